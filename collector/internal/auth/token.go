// Package auth decides who may do what on the collector: agent credentials,
// admin tokens with roles, and enrolment secrets. It makes and checks them;
// only a SHA-256 hash of each is stored (they carry 256 random bits, so a
// slow hash would add nothing).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/umbrasec/umbra/collector/internal/store"
)

// Role is what an admin token may do.
type Role string

// The roles, from most to least powerful.
const (
	RoleAdmin    Role = "admin"    // everything, including tokens
	RoleOperator Role = "operator" // network admins: scans, the register, enrolment
	RoleAuditor  Role = "auditor"  // security: read, acknowledge, export
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleOperator, RoleAuditor}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("role %q: want admin, operator or auditor", s)
}

// Token prefixes say what kind of secret a string is, so a token pasted in
// the wrong place is recognised, and secret scanners can find leaked ones.
var prefixes = map[string]string{
	store.KindAgentCredential: "uma_",
	store.KindAdminToken:      "umt_",
	store.KindEnrollSecret:    "ume_",
}

const (
	idBytes     = 8
	secretBytes = 32
	idLen       = 2 * idBytes
	secretLen   = (secretBytes*8 + 5) / 6 // base64url without padding
	tokenLen    = 4 + idLen + 1 + secretLen
)

// Token is a parsed credential string: kind, public id and secret.
type Token struct {
	Kind string
	ID   string
	raw  string
}

// ErrMalformed is a credential string that is not one of ours.
var ErrMalformed = errors.New("malformed credential")

// NewToken makes a fresh credential of a kind and returns it with the hash
// to store.
func NewToken(kind string) (tok Token, plaintext, hash string, err error) {
	prefix, ok := prefixes[kind]
	if !ok {
		return Token{}, "", "", fmt.Errorf("unknown credential kind %q", kind)
	}
	var b [idBytes + secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Token{}, "", "", err
	}
	id := hex.EncodeToString(b[:idBytes])
	plaintext = prefix + id + "_" + base64.RawURLEncoding.EncodeToString(b[idBytes:])
	return Token{Kind: kind, ID: id, raw: plaintext}, plaintext, Hash(plaintext), nil
}

// ParseToken recognises a credential string.
func ParseToken(s string) (Token, error) {
	if len(s) != tokenLen || s[4+idLen] != '_' {
		return Token{}, ErrMalformed
	}
	kind := ""
	for k, p := range prefixes {
		if strings.HasPrefix(s, p) {
			kind = k
		}
	}
	if kind == "" {
		return Token{}, ErrMalformed
	}
	id := s[4 : 4+idLen]
	if _, err := hex.DecodeString(id); err != nil || strings.ToLower(id) != id {
		return Token{}, ErrMalformed
	}
	if _, err := base64.RawURLEncoding.DecodeString(s[4+idLen+1:]); err != nil {
		return Token{}, ErrMalformed
	}
	return Token{Kind: kind, ID: id, raw: s}, nil
}

// Hash is what is stored of a credential string.
func Hash(plaintext string) string {
	sum := sha256.Sum256([]byte(plaintext))
	return hex.EncodeToString(sum[:])
}

// matches compares the token with a stored hash in constant time.
func (t Token) matches(hash string) bool {
	return subtle.ConstantTimeCompare([]byte(Hash(t.raw)), []byte(hash)) == 1
}

// ValidID reports whether s looks like a credential id.
func ValidID(s string) bool {
	if len(s) != idLen || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
