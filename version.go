package fetch

import "runtime/debug"

// modulePath is the path of this module.
const modulePath = "github.com/fetchkit/fetch"

// Version returns the version of this module in the running program, as
// the Go toolchain recorded it in the build: a tag such as "v1.2.0", a
// pseudo-version, or "(devel)" for a build from a checkout. It returns
// "unknown" when the program carries no build information.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if info.Main.Path == modulePath {
		return info.Main.Version
	}
	for _, dep := range info.Deps {
		if dep.Path == modulePath {
			if dep.Replace != nil && dep.Replace.Version != "" {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "(devel)"
}

// defaultUserAgent returns the User-Agent sent when [Options.UserAgent] is
// empty: "fetch/VERSION (+https://github.com/fetchkit/fetch)", with
// VERSION as Version gives it ("devel" for a build from a checkout).
func defaultUserAgent() string {
	v := Version()
	if v == "(devel)" || v == "" {
		v = "devel"
	}
	return "fetch/" + v + " (+https://" + modulePath + ")"
}
