package reconcile

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store/storetest"
)

func TestAlertsOncePerOccurrence(t *testing.T) {
	db := storetest.New(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if err := db.InsertRows(ctx, `INSERT INTO observations (observed_at, received_at, agent_id, report_id, idx, observer, method, ip, mac, mac_local,
hostname, vendor, model, serial, via, port, open_ports, rtt_us, kinds, kind_reasons, evidence_keys, evidence_values)`, [][]any{
		{now, now, "agent-x", "r1", uint32(0), "agent-x", "arp", "10.0.0.9", "00:1b:21:00:00:09", uint8(0), "rogue-ap", "", "", "", "", "", []uint16{}, uint64(0),
			[]string{}, []string{}, []string{}, []string{}},
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	type post struct {
		Source   string          `json:"source"`
		Findings []StoredFinding `json:"findings"`
	}
	var posts []post
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body post
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		mu.Lock()
		posts = append(posts, body)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	channels := []Alerter{Webhook{URL: hook.URL}, Syslog{Addr: "udp://" + pc.LocalAddr().String()}}

	e := New(db, nil, nil)
	for range 2 {
		if _, err := e.Run(ctx, "test"); err != nil {
			t.Fatal(err)
		}
		if err := e.Alert(ctx, channels); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != 1 || len(posts[0].Findings) != 1 || posts[0].Findings[0].Kind != KindUnregisteredDevice || posts[0].Source != "umbra" {
		t.Fatalf("webhook got %+v, want one post with the one finding", posts)
	}
	buf := make([]byte, 4096)
	_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	msg := string(buf[:n])
	if !strings.HasPrefix(msg, "<84>1 ") || !strings.Contains(msg, `kind="unregistered-device"`) || !strings.Contains(msg, "rogue-ap") {
		t.Errorf("syslog message %q", msg)
	}
	_ = pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, _, err := pc.ReadFrom(buf); err == nil {
		t.Error("syslog got a second message for the same occurrence")
	}
}
