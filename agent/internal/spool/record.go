package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// The on-disk form of one record, one record per file:
//
//	offset  size  field
//	0       4     magic "USP1"
//	4       1     class
//	5       1     reserved, 0
//	6       2     key length K (big endian, like every integer here)
//	8       8     sequence number
//	16      8     spooled at, Unix nanoseconds
//	24      4     payload length N
//	28      4     CRC32C of bytes 0..27
//	32      K     key
//	32+K    N     payload
//	32+K+N  4     CRC32C of key and payload
//
// The header has its own checksum so that Open can trust the lengths after
// reading 32 bytes and a stat; the trailer checksum covers the rest and is
// checked when the record is read. A file whose size is not exactly
// 36+K+N, or whose checksums do not match, is torn.
const (
	headerSize  = 32
	trailerSize = 4
	maxKeyLen   = 256
	// MaxPayload bounds one record's payload (the collector takes at most
	// 16 MiB of decoded JSON; payloads are usually far smaller).
	MaxPayload = 32 << 20
)

var magic = [4]byte{'U', 'S', 'P', '1'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is wrapped by every error about a torn or damaged record.
var ErrCorrupt = errors.New("corrupt spool record")

// header is the fixed part of a record.
type header struct {
	class    Class
	keyLen   int
	seq      uint64
	spooled  int64 // Unix nanoseconds
	dataLen  int
	fileSize int64
}

// encode returns the file contents for one record.
func encode(class Class, key string, seq uint64, spooled int64, payload []byte) []byte {
	b := make([]byte, headerSize+len(key)+len(payload)+trailerSize)
	copy(b[0:4], magic[:])
	b[4] = byte(class)
	binary.BigEndian.PutUint16(b[6:8], uint16(len(key)))
	binary.BigEndian.PutUint64(b[8:16], seq)
	binary.BigEndian.PutUint64(b[16:24], uint64(spooled))
	binary.BigEndian.PutUint32(b[24:28], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[28:32], crc32.Checksum(b[0:28], castagnoli))
	n := copy(b[headerSize:], key)
	copy(b[headerSize+n:], payload)
	body := b[headerSize : len(b)-trailerSize]
	binary.BigEndian.PutUint32(b[len(b)-trailerSize:], crc32.Checksum(body, castagnoli))
	return b
}

// decodeHeader checks and reads the fixed header in b (at least headerSize
// bytes).
func decodeHeader(b []byte) (header, error) {
	var h header
	if len(b) < headerSize {
		return h, fmt.Errorf("%w: %d bytes, shorter than a header", ErrCorrupt, len(b))
	}
	if [4]byte(b[0:4]) != magic {
		return h, fmt.Errorf("%w: bad magic %q", ErrCorrupt, b[0:4])
	}
	if got, want := crc32.Checksum(b[0:28], castagnoli), binary.BigEndian.Uint32(b[28:32]); got != want {
		return h, fmt.Errorf("%w: header checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	h.class = Class(b[4])
	if !h.class.valid() || b[5] != 0 {
		return h, fmt.Errorf("%w: unknown class %d", ErrCorrupt, b[4])
	}
	h.keyLen = int(binary.BigEndian.Uint16(b[6:8]))
	h.seq = binary.BigEndian.Uint64(b[8:16])
	h.spooled = int64(binary.BigEndian.Uint64(b[16:24]))
	h.dataLen = int(binary.BigEndian.Uint32(b[24:28]))
	if h.keyLen > maxKeyLen || h.dataLen > MaxPayload {
		return h, fmt.Errorf("%w: key of %d or payload of %d bytes is over the limit", ErrCorrupt, h.keyLen, h.dataLen)
	}
	h.fileSize = int64(headerSize + h.keyLen + h.dataLen + trailerSize)
	return h, nil
}

// decode checks a whole record file and returns its header, key and
// payload (which aliases b).
func decode(b []byte) (header, string, []byte, error) {
	h, err := decodeHeader(b)
	if err != nil {
		return h, "", nil, err
	}
	if int64(len(b)) != h.fileSize {
		return h, "", nil, fmt.Errorf("%w: %d bytes, want %d", ErrCorrupt, len(b), h.fileSize)
	}
	body := b[headerSize : len(b)-trailerSize]
	if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(b[len(b)-trailerSize:]); got != want {
		return h, "", nil, fmt.Errorf("%w: checksum %08x, want %08x", ErrCorrupt, got, want)
	}
	return h, string(body[:h.keyLen]), body[h.keyLen:], nil
}
