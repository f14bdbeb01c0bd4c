package filesync

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// A change notice tells the standby that a directory changed on the
// primary, so that it pulls at once instead of at its next interval. It is
// one UDP datagram, big-endian:
//
//	4      magic "PBXS"
//	1      version (1)
//	1 + n  directory name (1-63 bytes)
//	8      sent time, Unix nanoseconds
//	32     HMAC-SHA256 over everything before it, with the pair's key
//
// A forged, replayed or stale notice can at most make a pull come early.
const (
	noticeMagic   = "PBXS"
	noticeVersion = 1
	noticeMax     = 4 + 1 + 1 + 63 + 8 + sha256.Size
	noticeSkew    = 30 * time.Second // a notice sent further from now is dropped
)

// errNotice is the cause of every notice that is dropped.
var errNotice = errors.New("filesync: notice")

// encodeNotice builds a signed notice for dir at sent.
func encodeNotice(key []byte, dir string, sent time.Time) []byte {
	b := make([]byte, 0, noticeMax)
	b = append(b, noticeMagic...)
	b = append(b, noticeVersion, byte(len(dir)))
	b = append(b, dir...)
	b = binary.BigEndian.AppendUint64(b, uint64(sent.UnixNano()))
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b)
}

// decodeNotice checks a datagram and returns the directory it names and
// when it was sent. Garbage, a bad MAC or a time beyond the skew window of
// now is an error wrapping errNotice.
func decodeNotice(key, b []byte, now time.Time) (string, time.Time, error) {
	if len(b) < 4+1+1+8+sha256.Size || len(b) > noticeMax || string(b[:4]) != noticeMagic {
		return "", time.Time{}, fmt.Errorf("%w: garbage (%d bytes)", errNotice, len(b))
	}
	if b[4] != noticeVersion {
		return "", time.Time{}, fmt.Errorf("%w: version %d", errNotice, b[4])
	}
	n := int(b[5])
	if n == 0 || len(b) != 6+n+8+sha256.Size {
		return "", time.Time{}, fmt.Errorf("%w: length %d with a %d-byte name", errNotice, len(b), n)
	}
	body, mac := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return "", time.Time{}, fmt.Errorf("%w: bad mac", errNotice)
	}
	name := string(b[6 : 6+n])
	sent := time.Unix(0, int64(binary.BigEndian.Uint64(b[6+n:])))
	if d := now.Sub(sent); d > noticeSkew || d < -noticeSkew {
		return "", time.Time{}, fmt.Errorf("%w: sent %s, beyond %s of now", errNotice, sent.UTC().Format(time.RFC3339), noticeSkew)
	}
	return name, sent, nil
}
