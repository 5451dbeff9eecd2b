package uplink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/umbrasec/umbra/shared/version"
	"github.com/umbrasec/umbra/shared/wire"
)

// maxAPIAnswerBytes bounds a JSON answer of Call (a job with its
// credentials is a few kilobytes).
const maxAPIAnswerBytes = 1 << 20

// Call sends one JSON request to the collector's agent API at path (such
// as wire.PathJobsNext?wait=20) with the agent's credential, over the same
// pinned TLS as reports, and decodes a JSON answer into out. It makes one
// attempt. It returns ok false for a 204 No Content answer and a
// *RefusedError for an error status.
func (c *Client) Call(ctx context.Context, method, path string, body, out any) (ok bool, err error) {
	base := strings.TrimSuffix(c.endpoint, wire.PathReports)
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return false, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "umbra-agent/"+version.Version)
	if c.creds != nil {
		cred, err := c.creds.credential()
		if err != nil {
			return false, err
		}
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswerBytes))
	if err != nil {
		return false, fmt.Errorf("reading answer: %w", err)
	}
	if resp.StatusCode == http.StatusNoContent {
		return false, nil
	}
	if resp.StatusCode/100 == 2 {
		if out != nil {
			if err := json.Unmarshal(answer, out); err != nil {
				return false, fmt.Errorf("the collector's answer to %s %s: %w", method, path, err)
			}
		}
		return true, nil
	}
	refused := &RefusedError{Status: resp.Status, Code: resp.StatusCode, Reenroll: resp.Header.Get(ReenrollHeader) != ""}
	if json.Unmarshal(answer, &refused.Problem) != nil || refused.Problem.Error == "" && len(refused.Problem.Problems) == 0 {
		refused.Problem = wire.Problem{Error: firstLine(answer)}
	}
	return false, refused
}
