package plist

import (
	"os"
	"testing"
	"time"
)

func TestDecodeXMLAndBinary(t *testing.T) {
	for _, f := range []string{
		"../software/testdata/macos/Applications/Google Chrome.app/Contents/Info.plist", // XML
		"../software/testdata/macos/Applications/Slack.app/Contents/Info.plist",         // binary
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Dict(b)
		if err != nil {
			t.Fatalf("Dict(%s): %v", f, err)
		}
		if String(d, "CFBundleIdentifier") == "" || String(d, "CFBundleShortVersionString") == "" {
			t.Errorf("Dict(%s) = %v", f, d)
		}
	}
	b, err := os.ReadFile("../software/testdata/macos/var/db/receipts/com.microsoft.teams2.plist")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Dict(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d["InstallDate"], time.Date(2024, 11, 2, 14, 5, 9, 0, time.UTC); got != want {
		t.Errorf("binary date = %v, want %v", got, want)
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range []string{"../software/testdata/macos/Applications/Slack.app/Contents/Info.plist",
		"../software/testdata/macos/var/db/receipts/com.microsoft.teams2.plist",
		"../hardware/testdata/system_profiler-macbookpro.xml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = Decode(b) })
}
