package listeners

import (
	"os"
	"testing"
)

func TestParseProcNet(t *testing.T) {
	for _, tt := range []struct {
		file, proto string
		want        []string
	}{
		{"testdata/tcp", "tcp", []string{"0.0.0.0:22", "127.0.0.1:631"}},
		{"testdata/tcp6", "tcp", []string{"[::]:22", "[::1]:8080"}},
		{"testdata/udp", "udp", []string{"0.0.0.0:5353"}},
	} {
		data, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseProcNet(data, tt.proto)
		if err != nil {
			t.Fatalf("ParseProcNet(%s) error %v", tt.file, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("ParseProcNet(%s) = %v, want %v", tt.file, got, tt.want)
		}
		for i, s := range got {
			if s.Addr.String() != tt.want[i] {
				t.Errorf("ParseProcNet(%s)[%d] = %v, want %s", tt.file, i, s.Addr, tt.want[i])
			}
		}
	}
}

func FuzzParseProcNet(f *testing.F) {
	for _, p := range []string{"testdata/tcp", "testdata/tcp6", "testdata/udp"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseProcNet(b, "tcp")
		_, _ = ParseProcNet(b, "udp")
	})
}
