package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/umbrasec/umbra/shared/version"
)

// Alerter announces new findings on one channel.
type Alerter interface {
	// Name is the channel in the alert log, e.g. "webhook".
	Name() string
	Send(ctx context.Context, fs []StoredFinding) error
}

// Webhook posts new findings as JSON: {"findings": [...]}.
type Webhook struct {
	URL    string
	Client *http.Client
}

// Name implements Alerter.
func (w Webhook) Name() string { return "webhook" }

// Send implements Alerter.
func (w Webhook) Send(ctx context.Context, fs []StoredFinding) error {
	body, err := json.Marshal(map[string]any{"source": "umbra", "findings": fs})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "umbra-collector/"+version.Version)
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("posting %d findings to the webhook: %w", len(fs), err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("posting %d findings to the webhook: %s", len(fs), resp.Status)
	}
	return nil
}

// Syslog sends one RFC 5424 message per new finding over UDP or TCP
// (octet-counted framing, RFC 6587).
type Syslog struct {
	// Addr is udp://host:port or tcp://host:port.
	Addr string
}

// Name implements Alerter.
func (s Syslog) Name() string { return "syslog" }

// ParseSyslog checks a syslog address.
func ParseSyslog(addr string) (network, hostport string, err error) {
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "udp" && u.Scheme != "tcp") || u.Host == "" || u.Path != "" {
		return "", "", fmt.Errorf("syslog address %q: want udp://host:port or tcp://host:port", addr)
	}
	return u.Scheme, u.Host, nil
}

// severity maps a finding's severity to a syslog severity.
func severity(s string) int {
	switch s {
	case "high":
		return 3 // error
	case "medium":
		return 4 // warning
	}
	return 5 // notice
}

// Send implements Alerter.
func (s Syslog) Send(ctx context.Context, fs []StoredFinding) error {
	network, hostport, err := ParseSyslog(s.Addr)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, hostport)
	if err != nil {
		return fmt.Errorf("syslog %s: %w", s.Addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "-"
	}
	for _, f := range fs {
		// Facility security/authorization (10).
		msg := fmt.Sprintf("<%d>1 %s %s umbra - finding [umbra@32473 id=\"%s\" kind=\"%s\" severity=\"%s\" device=\"%s\" asset=\"%s\"] %s: %s",
			10*8+severity(f.Severity), time.Now().UTC().Format(time.RFC3339), host, sdEscape(f.ID), sdEscape(f.Kind), sdEscape(f.Severity),
			sdEscape(f.DeviceID), sdEscape(f.AssetID), oneLine(f.Title), oneLine(f.Why))
		if len(msg) > maxSyslogMessage {
			msg = strings.ToValidUTF8(msg[:maxSyslogMessage-3], "") + "..."
		}
		if network == "tcp" {
			msg = fmt.Sprintf("%d %s", len(msg), msg)
		}
		if _, err := conn.Write([]byte(msg)); err != nil {
			return fmt.Errorf("syslog %s: %w", s.Addr, err)
		}
	}
	return nil
}

// maxSyslogMessage keeps a message within what every UDP syslog receiver
// takes.
const maxSyslogMessage = 2048

func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(oneLine(s))
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// Alert announces, on every channel, the open findings whose occurrence
// (id and opening time) it has not announced there yet. Acknowledged
// findings are not announced.
func (e *Engine) Alert(ctx context.Context, channels []Alerter) error {
	if len(channels) == 0 {
		return nil
	}
	fs, err := e.ListFindings(ctx, FindingFilter{State: StateOpen})
	if err != nil {
		return err
	}
	sent := map[string]bool{}
	err = e.db.QueryEach(ctx, "alert log", "SELECT finding_id, opened_at, channel FROM alert_log FINAL", func(rows driver.Rows) error {
		var id, ch string
		var at time.Time
		if err := rows.Scan(&id, &at, &ch); err != nil {
			return err
		}
		sent[ch+"|"+id+"|"+fmt.Sprint(at.Unix())] = true
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, ch := range channels {
		var todo []StoredFinding
		for _, f := range fs {
			if f.State == StateOpen && !sent[ch.Name()+"|"+f.ID+"|"+fmt.Sprint(f.OpenedAt.Unix())] {
				todo = append(todo, f)
			}
		}
		if len(todo) == 0 {
			continue
		}
		if err := ch.Send(ctx, todo); err != nil {
			errs = append(errs, err)
			continue
		}
		rows := make([][]any, len(todo))
		for i, f := range todo {
			rows[i] = []any{f.ID, dbTime(f.OpenedAt), ch.Name(), dbTime(e.now())}
		}
		if err := e.db.InsertRows(ctx, "INSERT INTO alert_log (finding_id, opened_at, channel, sent_at)", rows); err != nil {
			errs = append(errs, err)
		}
		e.log.Info("alerted", "channel", ch.Name(), "findings", len(todo))
	}
	return errors.Join(errs...)
}
