package wire

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestJobValidate(t *testing.T) {
	good := Job{ID: "scan-1", Targets: []string{"198.18.1.0/24"}, Methods: ScanMethods, Rate: 400, MaxAddrs: 4096, LeaseSeconds: 45,
		Credentials: []SNMPCredential{{Name: "ro", Version: "2c", Community: "x"},
			{Name: "v3", Version: "3", User: "u", AuthProto: "SHA", AuthPass: "a", PrivProto: "AES", PrivPass: "p"}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	for name, mut := range map[string]func(*Job){
		"no id":           func(j *Job) { j.ID = "" },
		"no targets":      func(j *Job) { j.Targets = nil },
		"bad target":      func(j *Job) { j.Targets = []string{"10.0.0.1-5"} },
		"bad method":      func(j *Job) { j.Methods = []string{"nmap"} },
		"zero rate":       func(j *Job) { j.Rate = 0 },
		"huge rate":       func(j *Job) { j.Rate = MaxJobRate + 1 },
		"no lease":        func(j *Job) { j.LeaseSeconds = 0 },
		"empty community": func(j *Job) { j.Credentials = []SNMPCredential{{Name: "x", Version: "2c"}} },
		"priv without auth": func(j *Job) {
			j.Credentials = []SNMPCredential{{Name: "x", Version: "3", User: "u", PrivProto: "AES", PrivPass: "p"}}
		},
		"bad version": func(j *Job) { j.Credentials = []SNMPCredential{{Name: "x", Version: "4"}} },
	} {
		j := good
		j.Credentials = append([]SNMPCredential(nil), good.Credentials...)
		mut(&j)
		if err := j.Validate(); err == nil {
			t.Errorf("Validate(%s) = nil, want an error", name)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	c := SNMPCredential{Name: "ro", Version: "2c", Community: "s3cret", AuthPass: "s3cret"}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("x", "cred", c.Community, "job", Job{Credentials: []SNMPCredential{c}})
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), b.String()} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("printed the secret: %s", s)
		}
	}
	// It does travel inside the job, to the agent.
	data, _ := json.Marshal(c)
	if !strings.Contains(string(data), `"community":"s3cret"`) {
		t.Errorf("marshalled %s", data)
	}
}

func TestJobProgressValidate(t *testing.T) {
	for _, tc := range []struct {
		p  JobProgress
		ok bool
	}{
		{JobProgress{State: JobRunning, Probed: 10, Total: 254, Percent: 4}, true},
		{JobProgress{State: JobDone, Percent: 100}, true},
		{JobProgress{State: "paused"}, false},
		{JobProgress{State: JobRunning, Percent: 101}, false},
		{JobProgress{State: JobRunning, Probed: 300, Total: 254}, false},
		{JobProgress{State: JobRunning, Found: -1}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.p, err, tc.ok)
		}
	}
}
