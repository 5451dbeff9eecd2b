package uplink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/umbrasec/umbra/shared/wire"
)

// An agent's next report comes minutes later on a new connection, which
// resumes the TLS session of the last one; the resumed connection is still
// checked against the pinned CA.
func TestSendResumesTLSSession(t *testing.T) {
	var mu sync.Mutex
	var resumed []bool
	srv, pin := tlsCollector(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		resumed = append(resumed, r.TLS.DidResume)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(wire.Accepted{ID: testReport().ID})
	})
	dir := t.TempDir()
	if err := (&Enrollment{Collector: srv.URL, AgentID: agentUUID, Credential: "uma_cred", CAFingerprint: pin, CA: srv.Certificate()}).Save(dir); err != nil {
		t.Fatal(err)
	}
	c, err := New(srv.URL, nil, WithStateDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		if _, err := c.Send(ctx, testReport()); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
		c.http.CloseIdleConnections() // the next report comes on a new connection
	}
	mu.Lock()
	got := append([]bool(nil), resumed...)
	mu.Unlock()
	if len(got) != 3 || got[0] || !got[1] || !got[2] {
		t.Fatalf("connections resumed a TLS session: %v, want [false true true]", got)
	}

	// Enrolled again with another collector CA: a session of the old one
	// is not enough, the certificate is checked again and refused.
	other := &Enrollment{Collector: srv.URL, AgentID: agentUUID, Credential: "uma_cred"}
	cert := selfSigned(t)
	other.CA, err = x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	other.CAFingerprint = fingerprint(other.CA.Raw)
	if err := other.Save(dir); err != nil {
		t.Fatal(err)
	}
	c.attempts = 1
	if _, err := c.Send(ctx, testReport()); err == nil || !strings.Contains(err.Error(), "pinned CA") {
		t.Errorf("Send after the CA changed = %v, want a certificate error", err)
	}
}

// Without a pinned CA (system roots), sessions are resumed as well.
func TestNewKeepsTLSSessions(t *testing.T) {
	c, err := New("https://collector.example:8443", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.http.Transport.(*http.Transport)
	if !ok || tr.TLSClientConfig == nil || tr.TLSClientConfig.ClientSessionCache == nil {
		t.Fatal("the client keeps no TLS sessions")
	}
	if tr.TLSClientConfig.InsecureSkipVerify || tr.TLSClientConfig.MinVersion < tls.VersionTLS12 {
		t.Error("the TLS configuration without a pinned CA is weaker than the default")
	}
}
