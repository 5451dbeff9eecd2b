package registry

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseSnipeIT(t *testing.T) {
	f, err := os.Open("testdata/snipeit.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	as, format, err := ParseCSV(f, FormatAuto, "")
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatSnipeIT || len(as) != 3 {
		t.Fatalf("ParseCSV = %s, %d assets, want snipeit, 3", format, len(as))
	}
	a := as[0]
	want := Asset{Tag: "ASSET-0001", Name: "LAPTOP-ANNA", Category: EndUserDevice, Serial: "5CD1234XYZ", Lifecycle: Deployed,
		Owner: "Anna Berg", Location: "HQ Floor 2", CostCents: 129900, MACs: []string{"a4:bb:6d:11:22:33"}, ExpectAgent: true}
	if a.Tag != want.Tag || a.Name != want.Name || a.Category != want.Category || a.Serial != want.Serial || a.Lifecycle != want.Lifecycle ||
		a.Owner != want.Owner || a.Location != want.Location || a.CostCents != want.CostCents || len(a.MACs) != 1 || a.MACs[0] != want.MACs[0] || !a.ExpectAgent {
		t.Errorf("row 1 = %+v, want %+v", a, want)
	}
	if !a.PurchaseDate.Equal(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) || !a.WarrantyEnd.Equal(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("dates = %v, %v", a.PurchaseDate, a.WarrantyEnd)
	}
	if as[1].Category != NetworkInfra || as[2].Category != Peripheral || as[2].Lifecycle != InStock {
		t.Errorf("categories/lifecycles = %s %s %s", as[1].Category, as[2].Category, as[2].Lifecycle)
	}
}

func TestParseNetBox(t *testing.T) {
	f, err := os.Open("testdata/netbox.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	as, format, err := ParseCSV(f, FormatAuto, "")
	if err != nil {
		t.Fatal(err)
	}
	if format != FormatNetBox || len(as) != 3 {
		t.Fatalf("ParseCSV = %s, %d assets", format, len(as))
	}
	if a := as[0]; a.Tag != "NB-1001" || a.Hostname != "dist-sw-01" || a.Serial != "PE3714AF0123" || a.Lifecycle != Deployed || a.Location != "HQ / MDF" || a.Category != NetworkInfra {
		t.Errorf("row 1 = %+v", a)
	}
	if a := as[1]; a.Tag != "netbox:fw-edge" || a.Lifecycle != Planned {
		t.Errorf("row 2 = %+v", a)
	}
	if a := as[2]; a.Lifecycle != Retired {
		t.Errorf("row 3 lifecycle = %s", a.Lifecycle)
	}
}

func TestParseBadRowsReportLines(t *testing.T) {
	in := "tag,name,category,serial,macs,lifecycle,purchase_date\n" +
		"T1,ok,end-user device,S1,,deployed,2024-01-01\n" +
		"T2,bad cat,spaceship,S2,,deployed,\n" +
		"\"T3\",\"multi\nline\",peripheral,S3,not-a-mac,deployed,\n" +
		"T1,dup,peripheral,S4,,deployed,01/02/2024\n" +
		"T5,placeholder,peripheral,To be filled by O.E.M.,,deployed,\n"
	_, _, err := ParseCSV(strings.NewReader(in), FormatAuto, "")
	var ie *ImportError
	if !errors.As(err, &ie) {
		t.Fatalf("ParseCSV = %v, want an ImportError", err)
	}
	got := strings.Join(ie.Problems, "\n")
	for _, want := range []string{"line 3: category \"spaceship\"", "line 4: \"not-a-mac\"", "line 6: purchase_date", "line 6: tag \"T1\" is also on line 2", "line 7: serial"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "line 2:") {
		t.Errorf("good line 2 reported:\n%s", got)
	}
}

func TestExportRoundTripNeutralises(t *testing.T) {
	as := []Asset{{ID: "a-1", Tag: "=HYPERLINK(\"x\")", Name: "+evil", Category: Peripheral, Lifecycle: Deployed, Notes: "-1", CostCents: 1050, MACs: []string{"00:11:22:33:44:55"}}}
	var b bytes.Buffer
	if err := WriteCSV(&b, as); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "'=HYPERLINK") || !strings.Contains(b.String(), "'+evil") {
		t.Errorf("export not neutralised:\n%s", b.String())
	}
	back, _, err := ParseCSV(&b, FormatAuto, "")
	if err != nil {
		t.Fatal(err)
	}
	if back[0].Tag != as[0].Tag || back[0].Name != "+evil" || back[0].CostCents != 1050 || back[0].MACs[0] != "00:11:22:33:44:55" {
		t.Errorf("round trip = %+v", back[0])
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add("tag,category\nT,peripheral\n")
	f.Add("Asset Tag,Asset Name,Serial\nA,B,C\n")
	f.Fuzz(func(t *testing.T, s string) {
		as, _, err := ParseCSV(strings.NewReader(s), FormatAuto, "")
		if err == nil {
			for _, a := range as {
				if a.Tag == "" {
					t.Fatalf("accepted an asset without tag from %q", s)
				}
			}
		}
	})
}

func TestParseNetBoxImportLayout(t *testing.T) {
	in := "name,role,device_type,site,status,serial,asset_tag,tenant\n" +
		"core-rtr-1,Router,ASR1001-X,HQ,active,FXS1234Q0AB,NB-7,Acme\n" +
		"ap-3f-1,Access Point,MR46,HQ,offline,Q2KD-ABCD-1234,,\n"
	as, f, err := ParseCSV(strings.NewReader(in), FormatAuto, "")
	if err != nil || f != FormatNetBox || len(as) != 2 {
		t.Fatalf("ParseCSV = %v, %s, %v", len(as), f, err)
	}
	if a := as[0]; a.Tag != "NB-7" || a.Serial != "FXS1234Q0AB" || a.Owner != "Acme" || a.Category != NetworkInfra || a.Lifecycle != Deployed {
		t.Errorf("row 1 = %+v", a)
	}
	if a := as[1]; a.Tag != "netbox:ap-3f-1" || a.Lifecycle != Maintenance {
		t.Errorf("row 2 = %+v", a)
	}
}
