package store

import (
	"context"
	"fmt"
)

// CredentialsByID returns the latest version of each of the credentials
// ids that exists, in one query: the authenticator asks for every
// credential that concurrent requests miss in its cache at once, so 1,000
// agents reporting together cost a few queries, not 1,000.
func (db *DB) CredentialsByID(ctx context.Context, ids []string) (map[string]Credential, error) {
	out := make(map[string]Credential, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cs, err := db.queryCredentials(ctx, "SELECT "+credentialColumns+" FROM credentials FINAL WHERE cred_id IN (SELECT arrayJoin(?))", ids)
	if err != nil {
		return nil, fmt.Errorf("looking up %d credentials: %w", len(ids), err)
	}
	for _, c := range cs { // FINAL has not merged across partitions on every server
		if best, ok := out[c.ID]; !ok || c.Version > best.Version {
			out[c.ID] = c
		}
	}
	return out, nil
}

// EnrolmentUses counts the uses of an enrolment secret: the agent
// credentials whose latest version names it as their issuer. An enrolment
// that failed after its credential was written (the reply of the write was
// lost) writes a later version that names no issuer, and so gives the use
// back; a credential revoked later (the machine enrolled again) still
// counts.
func (db *DB) EnrolmentUses(ctx context.Context, secretID string) (uint64, error) {
	n, err := db.Count(ctx, `SELECT count() FROM (
    SELECT cred_id, argMax(issued_by, version) AS issuer
    FROM credentials
    WHERE cred_id IN (SELECT cred_id FROM credentials WHERE kind = 'agent' AND issued_by = ?)
    GROUP BY cred_id
) WHERE issuer = ?`, secretID, secretID)
	if err != nil {
		return 0, fmt.Errorf("counting uses of enrolment secret %s: %w", secretID, err)
	}
	return n, nil
}
