package accounts

import (
	"os"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

func TestParsePasswd(t *testing.T) {
	passwd, _ := os.ReadFile("testdata/passwd")
	group, _ := os.ReadFile("testdata/group")
	got := ParsePasswd(passwd, group)
	if len(got) != 6 {
		t.Fatalf("ParsePasswd = %d users, want 6: %+v", len(got), got)
	}
	want := map[string]wire.User{
		"root":  {Name: "root", ID: "0", FullName: "root", Home: "/root", Shell: "/bin/bash", Admin: true},
		"alice": {Name: "alice", ID: "1000", FullName: "Alice Martin", Home: "/home/alice", Shell: "/bin/zsh", Admin: true},
		"bob":   {Name: "bob", ID: "1001", Home: "/home/bob", Shell: "/bin/bash"},
	}
	for _, u := range got {
		if w, ok := want[u.Name]; ok && u != w {
			t.Errorf("ParsePasswd %s = %+v, want %+v", u.Name, u, w)
		}
		if (u.Name == "daemon" || u.Name == "nobody" || u.Name == "systemd-network") && !u.System {
			t.Errorf("%s not marked system", u.Name)
		}
	}
}

func TestParseUtmp(t *testing.T) {
	b, _ := os.ReadFile("testdata/utmp")
	got := ParseUtmp(b)
	want := []wire.Session{
		{User: "alice", Terminal: "tty2", Since: time.Unix(1732694460, 0).UTC()},
		{User: "bob", Terminal: "pts/0", Remote: "192.0.2.44", Since: time.Unix(1732700000, 0).UTC()},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseUtmp = %+v, want %+v", got, want)
	}
}

func TestLastLogon(t *testing.T) {
	b := make([]byte, lastlogSize*1001+4)
	b[lastlogSize*1000] = 0x10
	b[lastlogSize*1000+3] = 0x67
	if got := LastLogon(b, 1000); got.IsZero() {
		t.Error("LastLogon(1000) is zero")
	}
	if got := LastLogon(b, 5000); !got.IsZero() {
		t.Error("LastLogon past the end is not zero")
	}
}

func FuzzParseUtmp(f *testing.F) {
	if b, err := os.ReadFile("testdata/utmp"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { _ = ParseUtmp(b) })
}
