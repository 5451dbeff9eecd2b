// Package uplink sends reports to the collector over HTTPS, trusting only
// the collector CA pinned at enrolment and presenting the agent's
// credential (see Enroll and WithStateDir).
package uplink

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

// maxAnswerBytes bounds how much of the collector's answer is read.
const maxAnswerBytes = 64 << 10

// Client sends reports to one collector.
type Client struct {
	endpoint string
	http     *http.Client

	// Retry policy: attempts in all, the first pause between them (doubled
	// each time, with jitter), and the longest Retry-After honoured.
	attempts      int
	backoff       time.Duration
	maxRetryAfter time.Duration

	// creds, when set, supplies the credential header and the pinned CA.
	creds *credSource
}

// Option configures a Client.
type Option func(*Client) error

// New returns a client for the collector at base, an http or https URL such
// as https://collector.example:8443. A nil hc gets a client with sensible
// connection timeouts, which verifies the collector against the pinned CA
// when an option provides one.
func New(base string, hc *http.Client, opts ...Option) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("collector URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("collector URL %q: want http:// or https:// and a host", base)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("collector URL %q: want no user, query or fragment", base)
	}
	c := &Client{
		endpoint:      strings.TrimSuffix(u.String(), "/") + wire.PathReports,
		http:          hc,
		attempts:      3,
		backoff:       500 * time.Millisecond,
		maxRetryAfter: 30 * time.Second,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.http == nil {
		tr := newTransport()
		if c.creds != nil {
			tr.TLSClientConfig = c.creds.tlsConfig()
		} else {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		// The agent posts every few minutes, each time on a new connection
		// (an idle one is closed long before): resuming the last TLS
		// session spares both sides the certificate signature and its
		// check. The session's certificates are still checked by
		// VerifyConnection.
		tr.TLSClientConfig.ClientSessionCache = tls.NewLRUClientSessionCache(sessionCacheSize)
		c.http = &http.Client{Transport: tr}
	}
	return c, nil
}

// sessionCacheSize is how many TLS sessions a client keeps: one per
// collector address is all it needs.
const sessionCacheSize = 4

func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          2,
		ForceAttemptHTTP2:     true,
	}
}

// Sent describes a report the collector stored.
type Sent struct {
	// Bytes is the size of the compressed body on the wire.
	Bytes int
	// Attempts is how many POSTs it took.
	Attempts int
	// Accepted is the collector's answer.
	Accepted wire.Accepted
}

// RefusedError is a report the collector answered with an error status.
type RefusedError struct {
	Status  string // "400 Bad Request"
	Code    int
	Problem wire.Problem
	// Reenroll is true when the collector no longer accepts the agent's
	// credential (revoked or unknown): the agent must be enrolled again.
	Reenroll bool
}

func (e *RefusedError) Error() string {
	msg := e.Problem.Error
	if msg == "" {
		msg = strings.Join(e.Problem.Problems, "; ")
	}
	if msg == "" {
		msg = "no reason given"
	}
	if e.Reenroll {
		msg += " (this agent must be enrolled again: umbra-agent enroll)"
	}
	return fmt.Sprintf("collector refused report: %s: %s", e.Status, msg)
}

// retryable reports whether the same report may succeed later.
func (e *RefusedError) retryable() bool {
	return e.Code >= 500 || e.Code == http.StatusTooManyRequests
}

// Send posts rep, gzip-compressed, and retries with the same report on
// network errors, 5xx and 429 answers. Any other refusal is returned at once
// as a *RefusedError.
func (c *Client) Send(ctx context.Context, rep *wire.Report) (Sent, error) {
	body, err := encode(rep)
	if err != nil {
		return Sent{}, fmt.Errorf("encoding report %s: %w", rep.ID, err)
	}
	sent := Sent{Bytes: len(body)}
	for attempt := 1; ; attempt++ {
		sent.Attempts = attempt
		acc, wait, err := c.post(ctx, body)
		if err == nil {
			sent.Accepted = acc
			return sent, nil
		}
		var refused *RefusedError
		if ctx.Err() != nil || errors.As(err, &refused) && !refused.retryable() {
			return sent, fmt.Errorf("posting report %s: %w", rep.ID, err)
		}
		if attempt == c.attempts {
			return sent, fmt.Errorf("posting report %s: %d attempts failed, last: %w", rep.ID, attempt, err)
		}
		if wait <= 0 {
			wait = c.backoff << (attempt - 1)
			wait += rand.N(wait/2 + 1)
		}
		wait = min(wait, c.maxRetryAfter)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return sent, fmt.Errorf("posting report %s: %w (while waiting to retry after: %v)", rep.ID, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func encode(rep *wire.Report) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(rep); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// post makes one attempt. It returns how long the collector asked to wait
// (Retry-After) along with a refusal.
func (c *Client) post(ctx context.Context, body []byte) (wire.Accepted, time.Duration, error) {
	var acc wire.Accepted
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return acc, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "umbra-agent/"+version.Version)
	if c.creds != nil {
		cred, err := c.creds.credential()
		if err != nil {
			return acc, 0, err
		}
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return acc, 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return acc, 0, fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		// The report is stored; an answer we cannot read changes nothing.
		_ = json.Unmarshal(answer, &acc)
		return acc, 0, nil
	}
	refused := &RefusedError{Status: resp.Status, Code: resp.StatusCode, Reenroll: resp.Header.Get(ReenrollHeader) != ""}
	if json.Unmarshal(answer, &refused.Problem) != nil || refused.Problem.Error == "" && len(refused.Problem.Problems) == 0 {
		refused.Problem = wire.Problem{Error: firstLine(answer)}
	}
	return acc, retryAfter(resp.Header.Get("Retry-After"), time.Now()), refused
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// firstLine is a short printable excerpt of a body that is not a Problem.
func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(strings.TrimSpace(s), "?")
}
