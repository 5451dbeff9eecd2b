package api

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

// A Content-Length is believed only so far: a sender announcing a large
// body makes no large buffer before its bytes come.
func TestReadBody(t *testing.T) {
	for _, c := range []struct {
		body string
		n    int64
	}{{"hello", 5}, {"hello", -1}, {"hello", 0}, {"hello", 1 << 30}, {strings.Repeat("x", 100<<10), 100 << 10}, {"", 0}} {
		got, err := readBody(strings.NewReader(c.body), c.n)
		if err != nil || string(got) != c.body {
			t.Errorf("readBody(%d bytes, Content-Length %d) = %d bytes, %v", len(c.body), c.n, len(got), err)
		}
		if len(c.body) < 64<<10 && cap(got) > 80<<10 { // 64 KiB and its allocation size class
			t.Errorf("readBody(%d bytes, Content-Length %d) made a buffer of %d bytes", len(c.body), c.n, cap(got))
		}
	}
}

// A gzip reader kept after a request, even one that failed, reads the next
// body as a new one would.
func TestGzipReaderReuse(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(s))
		_ = zw.Close()
		return b.Bytes()
	}
	good := gz(strings.Repeat("report ", 1000))
	read := func(body []byte) (string, error) {
		zr, err := gzipReader(bytes.NewReader(body))
		if err != nil {
			return "", err
		}
		defer gzipReaders.Put(zr)
		out, err := io.ReadAll(zr)
		return string(out), err
	}
	for i, body := range [][]byte{good, []byte("not gzip"), good, good[:len(good)/2], good, good[:len(good)-4], good, nil, good} {
		got, err := read(body)
		want, wantErr := func() (string, error) {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return "", err
			}
			out, err := io.ReadAll(zr)
			return string(out), err
		}()
		if got != want || (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
			t.Errorf("body %d: %d bytes, %v; a new reader: %d bytes, %v", i, len(got), err, len(want), wantErr)
		}
	}
}
