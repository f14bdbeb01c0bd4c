package failover

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MinKeySize is the shortest heartbeat key accepted, in bytes.
const MinKeySize = 32

// GenerateKey writes a new key file at path: 32 random bytes as one line of
// hex, mode 0600. It refuses to overwrite an existing file, so that a pair's
// shared key is never replaced by accident.
func GenerateKey(path string) error {
	key := make([]byte, MinKeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never returns an error (Go 1.24+)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("failover: generate key %s: file exists; remove it first to replace the key on both nodes", path)
		}
		return fmt.Errorf("failover: generate key %s: %w", path, err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return fmt.Errorf("failover: generate key %s: %w", path, err)
	}
	return nil
}

// LoadKey reads a key file: one line of hex or base64 (standard or URL
// alphabet, padded or not) holding at least MinKeySize bytes. Text that is
// valid hex is read as hex. It refuses a file that is not a regular file
// (opening it without blocking, so a FIFO cannot hang the caller) or that
// group or others may read or write, and names the file and the problem in
// every error.
func LoadKey(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("failover: load key %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failover: load key %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("failover: load key %s: not a regular file (%s)", path, fileType(fi.Mode()))
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("failover: load key %s: mode %04o lets group or others access the key; chmod 600 it", path, perm)
	}
	text, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return nil, fmt.Errorf("failover: load key %s: %w", path, err)
	}
	if len(text) > 4096 {
		return nil, fmt.Errorf("failover: load key %s: file larger than 4096 bytes, not a key file", path)
	}
	key, err := ParseKey(text)
	if err != nil {
		return nil, fmt.Errorf("failover: load key %s: %w", path, err)
	}
	return key, nil
}

// fileType names what a non-regular file is, for an error.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}

// ParseKey decodes key file text (see LoadKey).
func ParseKey(text []byte) ([]byte, error) {
	s := string(bytes.TrimSpace(text))
	if s == "" {
		return nil, errors.New("empty key")
	}
	key, err := hex.DecodeString(s)
	if err != nil {
		key, err = decodeBase64(s)
	}
	if err != nil {
		return nil, errors.New("key is neither hex nor base64")
	}
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("key is %d bytes, want at least %d (pbxha keygen writes one)", len(key), MinKeySize)
	}
	return key, nil
}

func decodeBase64(s string) ([]byte, error) {
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		var b []byte
		if b, err = enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// Keys are the heartbeat keys of a node. Current signs every heartbeat it
// sends; a heartbeat is accepted when it carries the MAC of Current or of
// Next, so that the pair can change its key one node at a time without a
// moment when one node's heartbeats fail the other's check (see
// docs/pair.md, Changing the key). Next is empty outside a key change.
type Keys struct {
	Current []byte
	Next    []byte
}

// check reports a key set the codec cannot use.
func (k Keys) check() error {
	if len(k.Current) < MinKeySize {
		return fmt.Errorf("key is %d bytes, want at least %d", len(k.Current), MinKeySize)
	}
	if len(k.Next) > 0 && len(k.Next) < MinKeySize {
		return fmt.Errorf("next key is %d bytes, want at least %d", len(k.Next), MinKeySize)
	}
	return nil
}

// Decode authenticates b with Current, then Next, and parses it (see
// Decode). A MAC that neither key makes is ErrBadMAC.
func (k Keys) Decode(cluster string, b []byte) (Heartbeat, error) {
	return k.decodeKnown(cluster, b, "")
}

// decodeKnown is Decode knowing the peer's node name (see decodeKnown).
func (k Keys) decodeKnown(cluster string, b []byte, node string) (Heartbeat, error) {
	h, err := decodeKnown(k.Current, cluster, b, node)
	if errors.Is(err, ErrBadMAC) && len(k.Next) > 0 {
		if hn, errn := decodeKnown(k.Next, cluster, b, node); errn == nil {
			return hn, nil
		}
	}
	return h, err
}
