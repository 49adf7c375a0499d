package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Limits on what a Keyring reads whole: a keyring file, a detached
// signature, a clear-signed message. Debian's archive keyring is some
// 100 KiB, an InRelease some hundreds of KiB.
const (
	maxKeyring     = 16 << 20
	maxSignature   = 1 << 20
	maxClearsigned = 64 << 20
)

// A Keyring holds OpenPGP public keys and checks the signatures made by
// them: it is the [Verifier] of a repository whose keys a user trusts.
// A Keyring is safe for concurrent use.
type Keyring struct {
	keys openpgp.EntityList
}

// ReadKeyring reads OpenPGP public keys, armored or binary, as
// `gpg --export [--armor]` writes them and as Debian ships its keyrings
// (/usr/share/keyrings/*.gpg): one key or several, several armored blocks
// one after the other too. A GnuPG keybox (pubring.kbx) is refused, with
// the command that exports its keys.
func ReadKeyring(r io.Reader) (*Keyring, error) {
	data, err := readAtMost(r, maxKeyring, "keyring")
	if err != nil {
		return nil, err
	}
	var keys openpgp.EntityList
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, errors.New("keyring: empty, no OpenPGP key")
	case len(data) >= 12 && string(data[8:12]) == "KBXf":
		return nil, errors.New("keyring: a GnuPG keybox, not OpenPGP keys: export them with gpg --export")
	case bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN ")):
		keys, err = readArmoredKeys(data)
	default:
		keys, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("keyring: no OpenPGP key")
	}
	return &Keyring{keys: keys}, nil
}

// readArmoredKeys reads every armored key block in data.
func readArmoredKeys(data []byte) (openpgp.EntityList, error) {
	var keys openpgp.EntityList
	for {
		start := bytes.Index(data, []byte("-----BEGIN "))
		if start < 0 {
			return keys, nil
		}
		end := bytes.Index(data[start:], []byte("-----END "))
		if end < 0 {
			return nil, errors.New("armored block without its END line")
		}
		end += start + len("-----END ")
		if nl := bytes.IndexByte(data[end:], '\n'); nl >= 0 {
			end += nl + 1
		} else {
			end = len(data)
		}
		block, err := armor.Decode(bytes.NewReader(data[start:end]))
		if err != nil {
			return nil, err
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("armored %q, not a key block", block.Type)
		}
		el, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, err
		}
		keys = append(keys, el...)
		data = data[end:]
	}
}

// Len returns the number of keys (primary keys, with their subkeys) in
// the keyring.
func (k *Keyring) Len() int { return len(k.keys) }

// Detached checks signature, armored or binary, over the bytes of signed:
// Release.gpg over Release, repomd.xml.asc over repomd.xml. A signature
// file may hold several signatures; one made by a key of the keyring is
// enough. A signature that does not verify (another key, other bytes,
// an expired or revoked key) is reported with an error that matches
// [ErrSignature]; an error reading signed or signature is returned as it
// is.
func (k *Keyring) Detached(signed, signature io.Reader) error {
	sig, err := readAtMost(signature, maxSignature, "signature")
	if err != nil {
		return err
	}
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN ")) {
		block, err := armor.Decode(bytes.NewReader(sig))
		if err != nil {
			return fmt.Errorf("%w: %w", ErrSignature, err)
		}
		if block.Type != openpgp.SignatureType {
			return fmt.Errorf("%w: armored %q, not a signature", ErrSignature, block.Type)
		}
		if sig, err = readAtMost(block.Body, maxSignature, "signature"); err != nil {
			return fmt.Errorf("%w: %w", ErrSignature, err)
		}
	}
	in := &errKeeper{r: signed}
	if _, _, err := openpgp.VerifyDetachedSignature(k.keys, in, bytes.NewReader(sig), nil); err != nil {
		if in.err != nil {
			return in.err
		}
		return signatureError(err, sig)
	}
	return nil
}

// Clearsigned checks a clear-signed message such as InRelease and returns
// the text that its signature covers, dash-escaping undone, each line
// ending with "\n". The message must start with its BEGIN line and have
// nothing but white space after its signature: text outside the signed
// part is refused, as apt refuses it, since a reader could take it for
// signed. Errors as for [Keyring.Detached].
func (k *Keyring) Clearsigned(msg io.Reader) ([]byte, error) {
	data, err := readAtMost(msg, maxClearsigned, "clear-signed message")
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN PGP SIGNED MESSAGE-----")) {
		return nil, fmt.Errorf("%w: not a clear-signed message (no BEGIN PGP SIGNED MESSAGE line first)", ErrSignature)
	}
	block, rest := clearsign.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: malformed clear-signed message", ErrSignature)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%w: text after the signature of a clear-signed message", ErrSignature)
	}
	sig, err := readAtMost(block.ArmoredSignature.Body, maxSignature, "signature")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	if _, _, err := openpgp.VerifyDetachedSignature(k.keys, bytes.NewReader(block.Bytes), bytes.NewReader(sig), nil); err != nil {
		return nil, signatureError(err, sig)
	}
	text := block.Plaintext
	if len(text) > 0 {
		text = append(text, '\n')
	}
	return text, nil
}

// signatureError wraps err, from checking the signature packets sig, so
// that it matches ErrSignature; when no key of the keyring made sig, it
// names the keys that did.
func signatureError(err error, sig []byte) error {
	if errors.Is(err, pgperrors.ErrUnknownIssuer) {
		if ids := issuers(sig); len(ids) > 0 {
			return fmt.Errorf("%w: made by key %s, which is not in the keyring", ErrSignature, strings.Join(ids, ", "))
		}
	}
	return fmt.Errorf("%w: %w", ErrSignature, err)
}

// issuers returns the key IDs (or fingerprints) of the signatures in sig,
// in upper-case hex.
func issuers(sig []byte) []string {
	var ids []string
	packets := packet.NewReader(bytes.NewReader(sig))
	for {
		p, err := packets.Next()
		if err != nil {
			return ids
		}
		s, ok := p.(*packet.Signature)
		switch {
		case !ok:
		case len(s.IssuerFingerprint) > 0:
			ids = append(ids, fmt.Sprintf("%X", s.IssuerFingerprint))
		case s.IssuerKeyId != nil:
			ids = append(ids, fmt.Sprintf("%016X", *s.IssuerKeyId))
		}
	}
}

// readAtMost reads r whole, failing when it has more than max bytes.
func readAtMost(r io.Reader, max int64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s larger than %d bytes", what, max)
	}
	return b, nil
}

// errKeeper keeps the error of the reader it wraps, so that a read error
// is told apart from a signature that does not verify.
type errKeeper struct {
	r   io.Reader
	err error
}

func (c *errKeeper) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
