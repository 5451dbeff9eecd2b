package uplink

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/umbrasec/umbra/shared/wire"
)

// tlsCollector is a fake collector on TLS whose certificate httptest made;
// that certificate is its own CA, so its fingerprint is the pin.
func tlsCollector(t *testing.T, h http.HandlerFunc) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv, fingerprint(srv.Certificate().Raw)
}

const agentUUID = "7d9e4a52-3b1c-4f7e-8a6d-2e5f1b0c9d84"

func TestEnrollPinsTheCA(t *testing.T) {
	var gotAuth atomic.Value
	srv, pin := tlsCollector(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != PathEnroll {
			w.Header().Set(ReenrollHeader, "1")
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		gotAuth.Store(r.Header.Get("Authorization"))
		var req EnrollRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Hostname != "pc-1" {
			http.Error(w, "bad", 400)
			return
		}
		_ = json.NewEncoder(w).Encode(wire.EnrollResponse{AgentID: agentUUID, Credential: "uma_cred"})
	})
	ctx := context.Background()
	req := EnrollRequest{Hostname: "pc-1"}

	if _, err := Enroll(ctx, srv.URL, "ume_secret", "sha256:"+strings.Repeat("ab", 32), false, req); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("Enroll with a wrong pin = %v, want a fingerprint error", err)
	}
	if _, err := Enroll(ctx, strings.Replace(srv.URL, "https", "http", 1), "ume_secret", pin, false, req); err == nil {
		t.Error("Enroll over plain HTTP without insecure succeeded")
	}
	if _, err := Enroll(ctx, srv.URL, "ume_secret", strings.ToUpper(pin[7:]), false, req); err == nil {
		t.Error("Enroll accepted a pin without sha256:")
	}
	e, err := Enroll(ctx, srv.URL, "ume_secret", pin, false, req)
	if err != nil {
		t.Fatal(err)
	}
	if gotAuth.Load() != "Bearer ume_secret" || e.AgentID != agentUUID || e.Credential != "uma_cred" || e.CA == nil {
		t.Fatalf("Enroll = %+v (auth %v)", e, gotAuth.Load())
	}
	dir := t.TempDir()
	if err := e.Save(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{EnrollmentFile, CAFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want mode 0600", f, fi, err)
		}
	}

	// The client then trusts the pinned CA (and nothing else) and presents
	// the credential; the collector's 401 asks it to enrol again.
	c, err := New(srv.URL, nil, WithStateDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	c.attempts = 1
	_, err = c.Send(ctx, testReport())
	var refused *RefusedError
	if !asRefused(err, &refused) || refused.Code != 401 || !refused.Reenroll {
		t.Errorf("Send to a refusing collector = %v, want a 401 asking to re-enrol", err)
	}
	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	other.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	other.StartTLS()
	defer other.Close()
	c2, _ := New(other.URL, nil, WithStateDir(dir))
	c2.attempts = 1
	if _, err := c2.Send(ctx, testReport()); err == nil || !strings.Contains(err.Error(), "pinned CA") {
		t.Errorf("Send to a server of another CA = %v, want a certificate error", err)
	}
}

func TestWithStateDirSendsCredential(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"id":"x"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	c, err := New(srv.URL, nil, WithStateDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), testReport()); err != nil || got.Load() != "" {
		t.Fatalf("unenrolled Send = %v, Authorization %q", err, got.Load())
	}
	// Enrolling while the agent runs takes effect without a restart.
	if err := (&Enrollment{Collector: srv.URL, AgentID: agentUUID, Credential: "uma_new"}).Save(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(context.Background(), testReport()); err != nil || got.Load() != "Bearer uma_new" {
		t.Fatalf("enrolled Send = %v, Authorization %q", err, got.Load())
	}
}

func asRefused(err error, target **RefusedError) bool { return errors.As(err, target) }

// selfSigned makes a CA certificate of its own for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
