package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/umbrasec/umbra/collector/internal/store"
)

// Why a credential is refused. Each is answered 401.
var (
	ErrNoCredential = errors.New("no credential")
	ErrInvalid      = errors.New("unknown or wrong credential")
	ErrExpired      = errors.New("credential expired")
	ErrRevoked      = errors.New("credential revoked")
)

// Principal is who a request comes from.
type Principal struct {
	Kind    string // store.KindAgentCredential, store.KindAdminToken or store.KindEnrollSecret
	CredID  string
	Name    string
	Role    Role   // admin tokens
	AgentID string // agent credentials
}

// Actor names the principal in the audit log.
func (p Principal) Actor() string {
	switch p.Kind {
	case store.KindAgentCredential:
		return "agent:" + p.AgentID
	case "":
		return "local"
	}
	return p.Kind + ":" + p.CredID
}

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of a request.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// credentialStore is what the authenticator reads.
type credentialStore interface {
	Credential(ctx context.Context, id string) (store.Credential, bool, error)
}

// batchStore is a store that can read many credentials in one query; the
// authenticator then looks up the credentials that concurrent requests
// miss together.
type batchStore interface {
	CredentialsByID(ctx context.Context, ids []string) (map[string]store.Credential, error)
}

// Authenticator checks credentials, caching what it read from the store for
// a short while: a revocation made through another collector takes effect
// here within CacheTTL, one made through this collector at once.
type Authenticator struct {
	st  credentialStore
	ttl time.Duration
	// stale is how long a cached credential keeps working while the store
	// is unreachable (revocations cannot be made then either).
	stale time.Duration
	now   func() time.Time

	mu    sync.Mutex
	cache map[string]cached
	// waiting are the lookups the next batch query answers, by id;
	// querying says a batch query is running.
	waiting  map[string][]chan lookupResult
	querying bool
}

type lookupResult struct {
	cred store.Credential
	ok   bool
	err  error
}

// batchTimeout bounds one batch lookup, which serves many requests.
const batchTimeout = 10 * time.Second

// maxBatch bounds the ids of one batch lookup.
const maxBatch = 2000

type cached struct {
	cred    store.Credential
	fetched time.Time
}

// maxCached bounds the cache; when full it starts again.
const maxCached = 100000

// DefaultCacheTTL is how long a credential read from the store is trusted.
const DefaultCacheTTL = 2 * time.Second

// NewAuthenticator returns an authenticator reading st. ttl zero means
// DefaultCacheTTL; now nil means time.Now.
func NewAuthenticator(st credentialStore, ttl time.Duration, now func() time.Time) *Authenticator {
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Authenticator{st: st, ttl: ttl, stale: 10 * time.Minute, now: now, cache: map[string]cached{},
		waiting: map[string][]chan lookupResult{}}
}

// Forget drops a credential from the cache, after a change made here.
func (a *Authenticator) Forget(id string) {
	a.mu.Lock()
	delete(a.cache, id)
	a.mu.Unlock()
}

// Remember caches a credential this collector has just written, so that
// its first use needs no lookup (1,000 agents enrolled at once then report
// without 1,000 queries).
func (a *Authenticator) Remember(c store.Credential) {
	a.mu.Lock()
	if len(a.cache) >= maxCached {
		a.cache = map[string]cached{}
	}
	a.cache[c.ID] = cached{cred: c, fetched: a.now()}
	a.mu.Unlock()
}

func (a *Authenticator) lookup(ctx context.Context, id string) (store.Credential, bool, error) {
	now := a.now()
	a.mu.Lock()
	c, hit := a.cache[id]
	a.mu.Unlock()
	if hit && now.Sub(c.fetched) < a.ttl {
		return c.cred, true, nil
	}
	cred, ok, err := a.fetch(ctx, id)
	if err != nil {
		if hit && errors.Is(err, store.ErrUnavailable) && now.Sub(c.fetched) < a.stale {
			return c.cred, true, nil
		}
		return store.Credential{}, false, err
	}
	a.mu.Lock()
	if ok {
		if len(a.cache) >= maxCached {
			a.cache = map[string]cached{}
		}
		a.cache[id] = cached{cred: cred, fetched: now}
	} else {
		delete(a.cache, id)
	}
	a.mu.Unlock()
	return cred, ok, nil
}

// fetch reads a credential from the store. With a batchStore, the
// lookups that arrive while a query runs wait and are answered by one
// query after it.
func (a *Authenticator) fetch(ctx context.Context, id string) (store.Credential, bool, error) {
	bs, ok := a.st.(batchStore)
	if !ok {
		return a.st.Credential(ctx, id)
	}
	ch := make(chan lookupResult, 1)
	a.mu.Lock()
	a.waiting[id] = append(a.waiting[id], ch)
	start := !a.querying
	a.querying = true
	a.mu.Unlock()
	if start {
		go a.lookupBatches(bs)
	}
	select {
	case r := <-ch:
		return r.cred, r.ok, r.err
	case <-ctx.Done():
		return store.Credential{}, false, ctx.Err()
	}
}

// lookupBatches answers the waiting lookups, a batch at a time, until none
// is left.
func (a *Authenticator) lookupBatches(bs batchStore) {
	for {
		a.mu.Lock()
		if len(a.waiting) == 0 {
			a.querying = false
			a.mu.Unlock()
			return
		}
		batch := make(map[string][]chan lookupResult, min(len(a.waiting), maxBatch))
		for id, chs := range a.waiting {
			if len(batch) == maxBatch {
				break
			}
			batch[id] = chs
			delete(a.waiting, id)
		}
		a.mu.Unlock()
		ids := make([]string, 0, len(batch))
		for id := range batch {
			ids = append(ids, id)
		}
		ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
		found, err := bs.CredentialsByID(ctx, ids)
		cancel()
		for id, chs := range batch {
			c, ok := found[id]
			for _, ch := range chs {
				ch <- lookupResult{cred: c, ok: ok, err: err}
			}
		}
	}
}

// Authenticate checks a credential string and returns its principal. It
// returns ErrNoCredential, ErrMalformed, ErrInvalid, ErrExpired, ErrRevoked
// or a store error.
func (a *Authenticator) Authenticate(ctx context.Context, credential string) (Principal, error) {
	if credential == "" {
		return Principal{}, ErrNoCredential
	}
	tok, err := ParseToken(credential)
	if err != nil {
		return Principal{}, err
	}
	cred, ok, err := a.lookup(ctx, tok.ID)
	if err != nil {
		return Principal{}, fmt.Errorf("checking credential: %w", err)
	}
	if !ok || cred.Kind != tok.Kind || !tok.matches(cred.SecretHash) {
		return Principal{}, ErrInvalid
	}
	if cred.Revoked {
		return Principal{}, ErrRevoked
	}
	if !cred.ExpiresAt.IsZero() && !a.now().Before(cred.ExpiresAt) {
		return Principal{}, ErrExpired
	}
	return Principal{Kind: cred.Kind, CredID: cred.ID, Name: cred.Name, Role: Role(cred.Role), AgentID: cred.AgentID}, nil
}
