// Package breaker puts a circuit breaker (sony/gobreaker v2) in front of a
// dependency: when too many calls fail because the dependency is down, calls
// fail at once for a while instead of piling up, and an open breaker is a
// transient failure, so that the work is retried later and never poisoned.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"shop/app/fault"
)

// Config sets when a breaker opens and how long it stays open.
type Config struct {
	// CallTimeout bounds each call (CIRCUIT_BREAKER_TIMEOUT).
	CallTimeout time.Duration
	// ErrorThreshold is the share of failed calls, in percent, that opens the
	// breaker (CIRCUIT_BREAKER_ERROR_THRESHOLD), once MinRequests were made in
	// the current Window.
	ErrorThreshold int
	MinRequests    uint32
	Window         time.Duration
	// FirstOpen is how long the breaker stays open when it opens, before it
	// lets a trial call through (CIRCUIT_BREAKER_FIRST_OPEN). Each failed
	// trial doubles the wait, up to ResetTimeout (CIRCUIT_BREAKER_RESET_TIMEOUT);
	// a trial that succeeds closes the breaker and starts over. A dependency
	// that comes back is let in within FirstOpen, and one that stays down is
	// tried less and less often.
	FirstOpen    time.Duration
	ResetTimeout time.Duration
}

// DefaultConfig is the platform's: 30 s per call, open at 50 % failures,
// try again after 1 s, then 2, 4... up to 60 s.
func DefaultConfig() Config {
	return Config{CallTimeout: 30 * time.Second, ErrorThreshold: 50, MinRequests: 10, Window: 10 * time.Second, FirstOpen: time.Second, ResetTimeout: 60 * time.Second}
}

// Validate reports every setting out of range.
func (c Config) Validate() error {
	var err error
	if c.CallTimeout <= 0 || c.ResetTimeout <= 0 || c.Window <= 0 || c.FirstOpen <= 0 {
		err = errors.Join(err, errors.New("circuit breaker timeouts and window must be positive"))
	}
	if c.FirstOpen > c.ResetTimeout {
		err = errors.Join(err, errors.New("circuit breaker: the first open period must not exceed the reset timeout"))
	}
	if c.ErrorThreshold < 1 || c.ErrorThreshold > 100 {
		err = errors.Join(err, errors.New("circuit breaker error threshold must be a percentage from 1 to 100"))
	}
	if c.MinRequests < 1 {
		err = errors.Join(err, errors.New("circuit breaker minimum requests must be at least 1"))
	}
	return err
}

// Breaker guards one dependency.
//
// gobreaker keeps a breaker open for one fixed time; the growing open
// periods are kept here, on top of it: gobreaker opens for FirstOpen, and
// after its n-th opening in a row the breaker refuses calls itself until
// FirstOpen×2ⁿ⁻¹ (at most ResetTimeout) has passed, before a call reaches
// gobreaker for its trial.
type Breaker struct {
	name string
	cfg  Config
	cb   *gobreaker.CircuitBreaker[struct{}]

	mu        sync.Mutex
	openings  int // in a row, since the breaker was last closed
	holdUntil time.Time
}

// New builds a breaker for the named dependency; onChange, if given, hears
// every state change.
func New(name string, cfg Config, onChange func(name string, from, to string)) *Breaker {
	if cfg.FirstOpen <= 0 || cfg.FirstOpen > cfg.ResetTimeout {
		cfg.FirstOpen = cfg.ResetTimeout
	}
	b := &Breaker{name: name, cfg: cfg}
	b.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Interval:    cfg.Window,
		Timeout:     cfg.FirstOpen,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			// Requests also counts the calls still under way and those
			// excluded; only the calls that ended with a verdict on the
			// dependency make the ratio and the minimum.
			decided := c.TotalSuccesses + c.TotalFailures
			return decided >= cfg.MinRequests && c.TotalFailures*100 >= decided*uint32(cfg.ErrorThreshold)
		},
		// Only the dependency being down counts against it: a duplicate key
		// or a document not found is an answer, not a failure.
		IsSuccessful: func(err error) bool { return err == nil || !fault.IsTransient(err) },
		IsExcluded: func(err error) bool {
			var gone callerGone
			return errors.As(err, &gone)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			b.changed(to)
			if onChange != nil {
				onChange(name, from.String(), to.String())
			}
		},
	})
	return b
}

// changed keeps the count of openings in a row, and the time the breaker
// holds itself open after the latest.
func (b *Breaker) changed(to gobreaker.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch to {
	case gobreaker.StateOpen:
		b.openings++
		hold := b.cfg.ResetTimeout
		if b.openings <= 30 {
			hold = min(b.cfg.FirstOpen<<(b.openings-1), b.cfg.ResetTimeout)
		}
		b.holdUntil = time.Now().Add(hold)
	case gobreaker.StateClosed:
		b.openings, b.holdUntil = 0, time.Time{}
	}
}

func (b *Breaker) held() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Now().Before(b.holdUntil)
}

// Name is the dependency's name.
func (b *Breaker) Name() string { return b.name }

// State is "closed", "half-open" or "open".
func (b *Breaker) State() string {
	if b.held() {
		return gobreaker.StateOpen.String()
	}
	return b.cb.State().String()
}

// Do runs call within the call timeout, unless the breaker is open. Errors
// the call marks transient (fault.Unavailable) count as failures; an open
// breaker answers fault.Unavailable.
//
// A call cut short because its caller gave up (a request cancelled, a
// handler's attempt timed out) says nothing about the dependency: it does not
// count, and its error is the caller's, not transient, so that a handler too
// slow for its timeout ends in the dead letters rather than in endless
// retries. Only the breaker's own call timeout marks the dependency slow.
func (b *Breaker) Do(ctx context.Context, call func(ctx context.Context) error) error {
	if b.held() {
		return fault.NotAttempted(b.name, errors.New("circuit breaker open"))
	}
	_, err := b.cb.Execute(func() (struct{}, error) {
		callCtx, cancel := context.WithTimeout(ctx, b.cfg.CallTimeout)
		defer cancel()
		err := call(callCtx)
		if err != nil && ctx.Err() != nil {
			return struct{}{}, callerGone{fmt.Errorf("%s: call abandoned: %w (%v)", b.name, ctx.Err(), err)}
		}
		return struct{}{}, err
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return fault.NotAttempted(b.name, fmt.Errorf("circuit breaker %s", b.State()))
	}
	var gone callerGone
	if errors.As(err, &gone) {
		return gone.err
	}
	return err
}

// callerGone carries the error of a call its caller abandoned through the
// breaker, which excludes it from its counts.
type callerGone struct{ err error }

func (c callerGone) Error() string { return c.err.Error() }
