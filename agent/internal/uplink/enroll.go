package uplink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/umbrasec/umbra/agent/internal/state"
	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

// The enrolment messages are shared with the collector.
const (
	PathEnroll     = wire.PathEnroll
	ReenrollHeader = wire.ReenrollHeader
)

// EnrollRequest is what the agent says about its machine when it enrols.
type EnrollRequest = wire.EnrollRequest

// Files in the agent's state folder, both readable by their owner only.
const (
	EnrollmentFile = "enrollment.json"
	CAFile         = "collector-ca.pem"
)

// Enrollment is what the agent keeps of its enrolment.
type Enrollment struct {
	Collector     string    `json:"collector"`
	AgentID       string    `json:"agent_id"`
	Credential    string    `json:"credential"`
	CAFingerprint string    `json:"ca_fingerprint,omitempty"`
	EnrolledAt    time.Time `json:"enrolled_at"`
	Reenrolled    bool      `json:"reenrolled,omitempty"`

	// CA is the pinned collector CA (kept in CAFile), nil over plain HTTP.
	CA *x509.Certificate `json:"-"`
}

// ParseFingerprint normalises a CA pin: "sha256:" and 64 hex digits,
// colons between bytes allowed.
func ParseFingerprint(s string) (string, error) {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	rest = strings.ReplaceAll(rest, ":", "")
	if b, err := hex.DecodeString(rest); !ok || err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA fingerprint %q: want sha256: and 64 hex digits", s)
	}
	return "sha256:" + rest, nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// verifyPinned checks a server's chain against a CA: the leaf must chain
// to it for server authentication. The host name is not checked: the CA is
// the collector's own and pinned, so any certificate it signed is the
// collector, whatever name or address an agent reaches it by.
func verifyPinned(cs tls.ConnectionState, ca *x509.Certificate) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("the collector sent no certificate")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("the collector's certificate is not signed by the pinned CA: %w", err)
	}
	return nil
}

// Enroll exchanges an enrolment secret for the agent's credential. Over
// HTTPS it trusts only a CA whose fingerprint is pin, found in the chain
// the collector presents; the CA is returned in the Enrollment for every
// later connection. Plain http:// is refused unless insecure is set.
func Enroll(ctx context.Context, base, secret, pin string, insecure bool, req EnrollRequest) (*Enrollment, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
		return nil, fmt.Errorf("collector URL %q: want https://host:port", base)
	}
	secret = strings.TrimSpace(secret)
	if secret == "" {
		return nil, errors.New("the enrolment secret is empty")
	}
	tr := newTransport()
	var mu sync.Mutex
	var ca *x509.Certificate
	switch {
	case u.Scheme == "http" && !insecure:
		return nil, fmt.Errorf("collector URL %q is plain HTTP: the secret and credential would cross the network in clear text (use https, or --insecure-http for a test)", base)
	case u.Scheme == "https":
		if pin, err = ParseFingerprint(pin); err != nil {
			return nil, err
		}
		tr.TLSClientConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			// Verification is VerifyConnection's: against the pinned CA only.
			InsecureSkipVerify: true, //nolint:gosec // the chain is verified against the pinned CA below
			VerifyConnection: func(cs tls.ConnectionState) error {
				for _, c := range cs.PeerCertificates {
					if fingerprint(c.Raw) != pin {
						continue
					}
					if !c.IsCA {
						return errors.New("the pinned certificate is not a CA")
					}
					if err := verifyPinned(cs, c); err != nil {
						return err
					}
					mu.Lock()
					ca = c
					mu.Unlock()
					return nil
				}
				return fmt.Errorf("the collector's certificate chain holds no CA with fingerprint %s: wrong collector, or wrong fingerprint", pin)
			},
		}
	}
	hc := &http.Client{Transport: tr, Timeout: time.Minute}
	defer tr.CloseIdleConnections()

	if req.AgentVersion == "" {
		req.AgentVersion = version.Version
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(u.String(), "/")+PathEnroll, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "umbra-agent/"+version.Version)
	hreq.Header.Set("Authorization", "Bearer "+secret)
	resp, err := hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("enrolling with %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, fmt.Errorf("reading the enrolment answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		refused := &RefusedError{Status: resp.Status, Code: resp.StatusCode}
		if json.Unmarshal(answer, &refused.Problem) != nil || refused.Problem.Error == "" {
			refused.Problem = wire.Problem{Error: firstLine(answer)}
		}
		return nil, fmt.Errorf("enrolment refused: %s: %s", resp.Status, refused.Problem.Error)
	}
	var er wire.EnrollResponse
	if err := json.Unmarshal(answer, &er); err != nil || er.Credential == "" || wire.CheckID(er.AgentID) != nil {
		return nil, fmt.Errorf("the collector's enrolment answer is unreadable: %q", firstLine(answer))
	}
	e := &Enrollment{Collector: strings.TrimSuffix(u.String(), "/"), AgentID: er.AgentID, Credential: er.Credential,
		EnrolledAt: time.Now().UTC(), Reenrolled: er.Reenrolled}
	if u.Scheme == "https" {
		mu.Lock()
		e.CA = ca
		mu.Unlock()
		if e.CA == nil {
			return nil, errors.New("the collector's CA was not seen")
		}
		e.CAFingerprint = pin
	}
	return e, nil
}

// Save writes the enrolment to the state folder dir, readable only by the
// owner (root or SYSTEM for the service): the credential file last, so a
// crash never leaves a credential without its CA.
func (e *Enrollment) Save(dir string) error {
	if err := state.MkdirPrivate(dir); err != nil {
		return fmt.Errorf("making state folder: %w", err)
	}
	if e.CA != nil {
		caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.CA.Raw})
		if err := state.WritePrivate(filepath.Join(dir, CAFile), caPEM); err != nil {
			return fmt.Errorf("saving the collector CA: %w", err)
		}
	} else if err := os.Remove(filepath.Join(dir, CAFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := state.WritePrivate(filepath.Join(dir, EnrollmentFile), append(data, '\n')); err != nil {
		return fmt.Errorf("saving the credential: %w", err)
	}
	return nil
}

// LoadEnrollment reads the enrolment kept in dir; fs.ErrNotExist when the
// agent is not enrolled.
func LoadEnrollment(dir string) (*Enrollment, error) {
	data, err := os.ReadFile(filepath.Join(dir, EnrollmentFile))
	if err != nil {
		return nil, err
	}
	var e Enrollment
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %w (enrol again)", filepath.Join(dir, EnrollmentFile), err)
	}
	if e.CAFingerprint != "" {
		caPEM, err := os.ReadFile(filepath.Join(dir, CAFile))
		if err != nil {
			return nil, fmt.Errorf("reading the pinned collector CA: %w", err)
		}
		blk, _ := pem.Decode(caPEM)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s holds no certificate (enrol again)", filepath.Join(dir, CAFile))
		}
		if fingerprint(blk.Bytes) != e.CAFingerprint {
			return nil, fmt.Errorf("%s does not match the pinned fingerprint %s (enrol again)", filepath.Join(dir, CAFile), e.CAFingerprint)
		}
		if e.CA, err = x509.ParseCertificate(blk.Bytes); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, CAFile), err)
		}
	}
	return &e, nil
}

// WithStateDir makes the client present the credential kept in the state
// folder dir and trust only the pinned collector CA kept there. The files
// are re-read when they change, so a re-enrolment takes effect without a
// restart. Without an enrolment, requests carry no credential and HTTPS
// verifies against the system's roots.
func WithStateDir(dir string) Option {
	return func(c *Client) error {
		c.creds = &credSource{dir: dir}
		_, err := c.creds.current()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
}

// credSource reads the enrolment when its file changes.
type credSource struct {
	dir string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	e       *Enrollment
}

func (s *credSource) current() (*Enrollment, error) {
	fi, err := os.Stat(filepath.Join(s.dir, EnrollmentFile))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.e, s.modTime = nil, time.Time{}
		return nil, err
	}
	if s.e != nil && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return s.e, nil
	}
	e, err := LoadEnrollment(s.dir)
	if err != nil {
		return nil, err
	}
	s.e, s.modTime, s.size = e, fi.ModTime(), fi.Size()
	return e, nil
}

func (s *credSource) credential() (string, error) {
	e, err := s.current()
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return e.Credential, nil
}

func (s *credSource) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // VerifyConnection verifies: pinned CA, else system roots and host name
		VerifyConnection: func(cs tls.ConnectionState) error {
			e, err := s.current()
			if err == nil && e.CA != nil {
				return verifyPinned(cs, e.CA)
			}
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the collector sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: inter})
			return err
		},
	}
}
