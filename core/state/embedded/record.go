package embedded

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// recordVersion is the first byte of every stored record: the layout below.
const recordVersion = 1

// headerLen: version byte, revision, expiry in Unix nanoseconds (0 = never).
const headerLen = 1 + 8 + 8

var errCorrupt = errors.New("corrupt record")

// record is a key's stored value with its metadata.
type record struct {
	rev     int64
	expires int64 // Unix nanoseconds; 0 = never
	value   []byte
}

func (r record) encode() []byte {
	b := make([]byte, headerLen+len(r.value))
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(r.rev))
	binary.BigEndian.PutUint64(b[9:17], uint64(r.expires))
	copy(b[headerLen:], r.value)
	return b
}

// decodeRecord parses b. The value is copied: b belongs to a bbolt
// transaction and is only valid inside it.
func decodeRecord(b []byte) (record, error) {
	if len(b) < headerLen || b[0] != recordVersion {
		return record{}, fmt.Errorf("%w: %d bytes, format %d", errCorrupt, len(b), firstByte(b))
	}
	return record{
		rev:     int64(binary.BigEndian.Uint64(b[1:9])),
		expires: int64(binary.BigEndian.Uint64(b[9:17])),
		value:   append([]byte{}, b[headerLen:]...),
	}, nil
}

func firstByte(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// expired reports whether the record has expired at now.
func (r record) expired(now time.Time) bool {
	return r.expires != 0 && now.UnixNano() >= r.expires
}

// expiresAt is the expiry as a time; zero for never.
func (r record) expiresAt() time.Time {
	if r.expires == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.expires)
}

// expiryKey is the key of the expiry index: the expiry, big-endian so that
// the index sorts by time, then the key.
func expiryKey(expires int64, key string) []byte {
	b := make([]byte, 8+len(key))
	binary.BigEndian.PutUint64(b, uint64(expires))
	copy(b[8:], key)
	return b
}

// parseExpiryKey splits an expiry index key.
func parseExpiryKey(b []byte) (expires int64, key string, err error) {
	if len(b) < 8 {
		return 0, "", fmt.Errorf("%w: expiry index key of %d bytes", errCorrupt, len(b))
	}
	return int64(binary.BigEndian.Uint64(b[:8])), string(b[8:]), nil
}
