package repo_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/fetchkit/fetch/internal/fetchtest"
	"github.com/fetchkit/fetch/repo"
)

// release is the text the tests sign: a Release with a line that needs
// dash-escaping and one with trailing white space, which a clear
// signature does not cover (RFC 4880, 7.1).
const (
	release = "Origin: Test\nSuite: stable\n- dash line\nDescription: trailing \t\nSHA256:\n 0123 10 main/binary-amd64/Packages\n"
	signed  = "Origin: Test\nSuite: stable\n- dash line\nDescription: trailing\nSHA256:\n 0123 10 main/binary-amd64/Packages\n"
)

// signer is a key made by go-crypto, and its public key exported.
type signer struct {
	entity *openpgp.Entity
	binary []byte // as gpg --export
	armor  []byte // as gpg --export --armor
}

func newSigner(t *testing.T, name string) signer {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var bin, arm bytes.Buffer
	if err := e.Serialize(&bin); err != nil {
		t.Fatal(err)
	}
	w, err := armor.Encode(&arm, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(bin.Bytes())
	w.Close()
	arm.WriteString("\n")
	return signer{entity: e, binary: bin.Bytes(), armor: arm.Bytes()}
}

func (s signer) clearsign(t *testing.T, text string) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, s.entity.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	// go-crypto signs the text's last line ending too, gpg does not.
	w.Write([]byte(strings.TrimSuffix(text, "\n")))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out.WriteString("\n")
	return out.Bytes()
}

func (s signer) detach(t *testing.T, text string, armored bool) []byte {
	t.Helper()
	var out bytes.Buffer
	sign := openpgp.DetachSign
	if armored {
		sign = openpgp.ArmoredDetachSign
	}
	if err := sign(&out, s.entity, strings.NewReader(text), nil); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func readKeyring(t *testing.T, keys ...[]byte) *repo.Keyring {
	t.Helper()
	k, err := repo.ReadKeyring(bytes.NewReader(bytes.Join(keys, nil)))
	if err != nil {
		t.Fatalf("ReadKeyring: %v", err)
	}
	return k
}

// checkSignatures checks what every Verifier must do: the signer's
// clear-signed and detached signatures verify and give back the text;
// another key's, and signatures over tampered text, fail with
// ErrSignature.
func checkSignatures(t *testing.T, k *repo.Keyring, clearsigned, detachedArmored, detachedBinary, otherClearsigned, otherDetached []byte) {
	t.Helper()
	text, err := k.Clearsigned(bytes.NewReader(clearsigned))
	if err != nil {
		t.Errorf("Clearsigned: %v", err)
	} else if string(text) != signed {
		t.Errorf("Clearsigned text %q; want %q", text, signed)
	}
	for name, sig := range map[string][]byte{"armored": detachedArmored, "binary": detachedBinary} {
		if err := k.Detached(strings.NewReader(release), bytes.NewReader(sig)); err != nil {
			t.Errorf("Detached, %s: %v", name, err)
		}
		err := k.Detached(strings.NewReader(strings.Replace(release, "stable", "stab1e", 1)), bytes.NewReader(sig))
		if !errors.Is(err, repo.ErrSignature) {
			t.Errorf("Detached, %s, tampered text: got %v; want ErrSignature", name, err)
		}
	}
	tampered := bytes.Replace(clearsigned, []byte("Suite: stable"), []byte("Suite: stab1e"), 1)
	if _, err := k.Clearsigned(bytes.NewReader(tampered)); !errors.Is(err, repo.ErrSignature) {
		t.Errorf("Clearsigned, tampered text: got %v; want ErrSignature", err)
	}
	if _, err := k.Clearsigned(bytes.NewReader(otherClearsigned)); !errors.Is(err, repo.ErrSignature) {
		t.Errorf("Clearsigned by another key: got %v; want ErrSignature", err)
	} else if !strings.Contains(err.Error(), "not in the keyring") {
		t.Errorf("Clearsigned by another key: %q does not say the key is not in the keyring", err)
	}
	if err := k.Detached(strings.NewReader(release), bytes.NewReader(otherDetached)); !errors.Is(err, repo.ErrSignature) {
		t.Errorf("Detached by another key: got %v; want ErrSignature", err)
	}
}

func TestKeyring(t *testing.T) {
	a, b := newSigner(t, "a"), newSigner(t, "b")
	for name, keys := range map[string][][]byte{
		"binary":            {a.binary},
		"armored":           {a.armor},
		"armored, two keys": {b.armor, a.armor},
		"binary, two keys":  {b.binary, a.binary},
	} {
		t.Run(name, func(t *testing.T) {
			k := readKeyring(t, keys...)
			if k.Len() != len(keys) {
				t.Errorf("Len %d; want %d", k.Len(), len(keys))
			}
			other := newSigner(t, "other")
			checkSignatures(t, k, a.clearsign(t, release), a.detach(t, release, true), a.detach(t, release, false),
				other.clearsign(t, release), other.detach(t, release, true))
		})
	}
}

func TestKeyringClearsignedRefused(t *testing.T) {
	a := newSigner(t, "a")
	k := readKeyring(t, a.binary)
	signed := a.clearsign(t, release)
	for name, msg := range map[string][]byte{
		"text before":  append([]byte("Suite: evil\n"), signed...),
		"text after":   append(append([]byte{}, signed...), "Suite: evil\n"...),
		"not signed":   []byte(release),
		"empty":        nil,
		"no signature": []byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + release),
	} {
		if _, err := k.Clearsigned(bytes.NewReader(msg)); !errors.Is(err, repo.ErrSignature) {
			t.Errorf("%s: got %v; want ErrSignature", name, err)
		}
	}
	if err := k.Detached(strings.NewReader(release), strings.NewReader("not a signature")); !errors.Is(err, repo.ErrSignature) {
		t.Errorf("Detached, garbage signature: got %v; want ErrSignature", err)
	}
}

func TestReadKeyringRefused(t *testing.T) {
	for name, data := range map[string]string{
		"empty":           "",
		"garbage":         "not a key at all",
		"keybox":          "\x00\x00\x00\x20\x01\x01\x00\x00KBXf\x00\x00\x00\x00",
		"armored no keys": "-----BEGIN PGP SIGNATURE-----\n\nwsBcBAABCAAQBQJ=\n-----END PGP SIGNATURE-----\n",
		"cut armor":       "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ",
	} {
		if k, err := repo.ReadKeyring(strings.NewReader(data)); err == nil {
			t.Errorf("%s: got a keyring of %d keys; want an error", name, k.Len())
		}
	}
}

// TestKeyringGPG checks signatures made by GnuPG, as a repository's
// publisher makes them, against keys exported by GnuPG.
func TestKeyringGPG(t *testing.T) {
	g := fetchtest.NewGPG(t, "Archive <archive@example.com>")
	other := fetchtest.NewGPG(t, "Other <other@example.com>")
	for name, key := range map[string][]byte{"gpg --export": g.Export(false), "gpg --export --armor": g.Export(true)} {
		t.Run(name, func(t *testing.T) {
			k := readKeyring(t, key)
			checkSignatures(t, k, g.Clearsign([]byte(release)), g.DetachSign([]byte(release), true), g.DetachSign([]byte(release), false),
				other.Clearsign([]byte(release)), other.DetachSign([]byte(release), true))
		})
	}
}

// TestKeyringDebianArchive checks the InRelease files that apt fetched
// from Debian's archive against Debian's archive keyring, when this
// machine has both.
func TestKeyringDebianArchive(t *testing.T) {
	keyring, err := os.Open("/usr/share/keyrings/debian-archive-keyring.gpg")
	if err != nil {
		t.Skip("no Debian archive keyring:", err)
	}
	defer keyring.Close()
	lists, _ := filepath.Glob("/var/lib/apt/lists/*debian*_InRelease")
	if len(lists) == 0 {
		t.Skip("no InRelease from Debian's archive in /var/lib/apt/lists")
	}
	k, err := repo.ReadKeyring(keyring)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range lists {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text, err := k.Clearsigned(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if !bytes.Contains(text, []byte("\nSHA256:\n")) {
			t.Errorf("%s: the signed text has no SHA256 section", name)
		}
	}
}
