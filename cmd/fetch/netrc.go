package main

import (
	"fmt"
	"strings"
)

// netrc holds the credentials of a .netrc file, by host, as curl reads
// them: "machine NAME login USER password PASS", and "default" for any
// other host.
type netrc struct {
	machines []netrcEntry // in the file's order
	fallback *netrcEntry  // of "default"
}

type netrcEntry struct {
	machine, login, password string
}

// parseNetrc parses the text of a .netrc file. Tokens are separated by
// white space; a token may be double-quoted, with backslash escapes. A
// macdef runs to the next blank line and is skipped; account is ignored.
func parseNetrc(s string) (*netrc, error) {
	n := &netrc{}
	var cur *netrcEntry
	toks := netrcTokens(s)
	for i := 0; i < len(toks); i++ {
		next := func() (string, error) {
			if i+1 >= len(toks) {
				return "", fmt.Errorf("%q without a value", toks[i])
			}
			i++
			return toks[i], nil
		}
		var err error
		switch tok := toks[i]; tok {
		case "machine":
			n.machines = append(n.machines, netrcEntry{})
			cur = &n.machines[len(n.machines)-1]
			cur.machine, err = next()
		case "default":
			n.fallback = &netrcEntry{}
			cur = n.fallback
		case "login", "password", "account":
			if cur == nil {
				return nil, fmt.Errorf("%q before machine or default", tok)
			}
			var v string
			if v, err = next(); tok == "login" {
				cur.login = v
			} else if tok == "password" {
				cur.password = v
			}
		case "macdef\x00":
			// A macro: its body (netrcTokens made it one token) is skipped.
			_, err = next()
		default:
			return nil, fmt.Errorf("unknown word %q", tok)
		}
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

// netrcTokens splits s into tokens. "macdef NAME" becomes the token
// "macdef\x00" followed by the macro's body, to the next blank line.
func netrcTokens(s string) []string {
	var toks []string
	for {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			return toks
		}
		var tok string
		if s[0] == '"' {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			tok, s = b.String(), s[min(i+1, len(s)):]
		} else {
			end := strings.IndexAny(s, " \t\r\n")
			if end < 0 {
				end = len(s)
			}
			tok, s = s[:end], s[end:]
		}
		if tok == "macdef" {
			body, rest, _ := strings.Cut(s, "\n\n")
			toks, s = append(toks, "macdef\x00", body), rest
			continue
		}
		toks = append(toks, tok)
	}
}

// lookup returns the credentials for host: the machine entry of that
// name, else default. When user is not empty only an entry with that login
// is taken, as curl does for a URL that names its user.
func (n *netrc) lookup(host, user string) (login, password string, ok bool) {
	for _, e := range n.machines {
		if strings.EqualFold(e.machine, host) && (user == "" || e.login == user) {
			return e.login, e.password, e.login != "" || e.password != ""
		}
	}
	if e := n.fallback; e != nil && (user == "" || e.login == user) {
		return e.login, e.password, e.login != "" || e.password != ""
	}
	return "", "", false
}
