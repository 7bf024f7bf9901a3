package cqrs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"shop/app/eventstore"
	"shop/app/fault"
	"shop/app/operations"
	"shop/cqrs/metadata"
	"shop/domain/refusal"
	"shop/infrastructure/logging"
	"shop/infrastructure/tracing"
)

// RouterConfig configures how handlers are retried, timed out and throttled.
type RouterConfig struct {
	// MaxRetries is how often a failing handler is retried before its message
	// is poisoned (MAX_RETRIES).
	MaxRetries int
	// RetryDelay is the first wait between retries; each next wait doubles, up
	// to MaxRetryDelay (RETRY_DELAY).
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// HandlerTimeout bounds one attempt of a handler.
	HandlerTimeout time.Duration
	// UnavailableDelay is how long a message whose dependency is down waits
	// before it is handed back to the broker for another round of retries.
	UnavailableDelay time.Duration
	// ThrottlePerSecond caps the messages each handler (of each partition)
	// takes per second; 0 is no cap.
	ThrottlePerSecond int
	// CloseTimeout bounds how long closing waits for handlers in flight.
	CloseTimeout time.Duration
	// EarlyPatience is how long a message that arrived before its
	// predecessor waits for it before it is poisoned (EARLY_PATIENCE).
	EarlyPatience time.Duration
	// Requeue publishes the copies of such messages to the back of their
	// topics; nil is the poison publisher. A bus on which a handler cannot
	// publish into the topic it reads without waiting for itself (a blocking
	// GoChannel) gives one that publishes in the background.
	Requeue message.Publisher
	// Metrics, when set, gets Watermill's router metrics: handler time,
	// messages published and received.
	Metrics prometheus.Registerer
	// Parking, when set, holds an aggregate's later messages for a handler
	// behind the dead letter of its earlier one (parkingLot); Parked, when
	// set, hears of each message parked ("parked") and released
	// ("released"), by handler without its partition.
	Parking operations.Parking
	Parked  func(handler, event string)
	// Tracing, when set, handles each delivery in a span (traceDelivery).
	Tracing *tracing.Tracing
}

func (c *RouterConfig) setDefaults() {
	if c.MaxRetryDelay == 0 {
		c.MaxRetryDelay = 30 * time.Second
	}
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = time.Minute
	}
	if c.UnavailableDelay == 0 {
		c.UnavailableDelay = time.Second
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = 30 * time.Second
	}
	if c.EarlyPatience == 0 {
		c.EarlyPatience = 10 * time.Minute
	}
}

// Validate reports every setting out of range.
func (c RouterConfig) Validate() error {
	var err error
	if c.MaxRetries < 0 {
		err = errors.Join(err, errors.New("MaxRetries must not be negative"))
	}
	if c.RetryDelay <= 0 || c.MaxRetryDelay < c.RetryDelay {
		err = errors.Join(err, errors.New("RetryDelay must be positive and at most MaxRetryDelay"))
	}
	if c.HandlerTimeout <= 0 || c.UnavailableDelay <= 0 || c.CloseTimeout <= 0 || c.EarlyPatience <= 0 {
		err = errors.Join(err, errors.New("HandlerTimeout, UnavailableDelay, CloseTimeout and EarlyPatience must be positive"))
	}
	if c.ThrottlePerSecond < 0 {
		err = errors.Join(err, errors.New("ThrottlePerSecond must not be negative"))
	}
	return err
}

// NewRouter builds a router with the middleware stack every handler runs in,
// outermost first:
//
//   - growStack gives the delivery's goroutine the stack it will need.
//   - skipCopiesForOthers acknowledges, unhandled, the copy of an early
//     message that another handler of its topic requeued for itself.
//   - the known names acknowledge, unhandled, a message of a type its
//     handler does not handle (unknown types go on, to be poisoned).
//   - traceDelivery, when tracing, handles the delivery in a consumer span,
//     the child of the span that published it.
//   - the parking lot, when configured, parks a message whose aggregate
//     waits behind a dead letter of the same handler, and releases the
//     parked ones once that dead letter was replayed and handled, or
//     discarded.
//   - CorrelationID copies the correlation id onto messages a handler returns.
//   - PoisonQueueWithFilter sets aside a message whose handler failed for good,
//     on the poison topic with the reason; a transient failure is never poisoned.
//     It publishes on a context that the handler's timeout cannot cancel.
//   - requeueEarly sends a message that arrived before its predecessor to the
//     back of its topic, and poisons it once it has waited EarlyPatience.
//   - waitWhileUnavailable holds a message whose dependency is down, or whose
//     predecessor is not here, for a while before it is handed back, so that
//     neither is a hot redelivery loop.
//   - Retry retries with exponential backoff, on a fresh context each time
//     (ResetContextOnRetry), and never retries malformed input, nor a message
//     that arrived early (retrying at once cannot bring its predecessor). It must sit
//     inside PoisonQueue, or a message would be poisoned before any retry.
//   - finishAttempt lets an attempt under way finish when the router closes.
//   - Timeout bounds each attempt.
//   - Throttle, when configured.
//   - the known-names check poisons messages of a type nobody registered.
//   - the deduplicator drops messages a handler already handled; it marks a
//     message only after its handler succeeded.
//   - the cause middleware gives the handler's context the message's
//     correlation and causation, which records appended by the handler carry.
//   - logHandled logs, at debug level, each message its handler handled,
//     with the aggregate and version and when the handling started.
//   - Recoverer turns a panic into an error that Retry sees.
func NewRouter(cfg RouterConfig, poison message.Publisher, topics Topics, known *KnownNames, dedup *Deduplicator, logger *slog.Logger) (*message.Router, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wlogger := WatermillLogger(logger)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, wlogger)
	if err != nil {
		return nil, err
	}
	if cfg.Metrics != nil {
		wmetrics.NewPrometheusMetricsBuilder(cfg.Metrics, "shop", "watermill").AddPrometheusRouterMetrics(router)
	}
	requeue := cfg.Requeue
	if requeue == nil {
		requeue = poison
	}
	outer := []message.HandlerMiddleware{growStack, skipCopiesForOthers, known.SkipIgnored}
	var traced message.HandlerMiddleware
	if cfg.Tracing != nil {
		traced = traceDelivery(cfg.Tracing)
		outer = append(outer, traced)
	}
	poisonPub := poison
	if cfg.Parking != nil {
		lot := newParkingLot(cfg.Parking, cfg.UnavailableDelay, traced, cfg.Parked, logger)
		outer = append(outer, lot.Middleware)
		poisonPub = holdingPublisher{Publisher: poison, lot: lot}
	}
	poisonQueue, err := middleware.PoisonQueueWithFilter(uncancelledPublisher{poisonPub}, topics.Poison(), func(err error) bool {
		// A message whose retries the router's close cut short is not bad:
		// nacked, it is delivered again after the restart.
		return !fault.IsTransient(err) && !errors.Is(err, context.Canceled)
	})
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(outer...)
	router.AddMiddleware(
		countAttempts,
		middleware.CorrelationID,
		poisonQueue,
		requeueEarly(uncancelledPublisher{requeue}, cfg.EarlyPatience, logger),
		waitWhileUnavailable(cfg.UnavailableDelay),
		retry(cfg, wlogger),
		finishAttempt,
		middleware.Timeout(cfg.HandlerTimeout),
	)
	if cfg.ThrottlePerSecond > 0 {
		// A throttle of each handler's own: one Throttle added to the router
		// shares its ticker among every handler, which then take turns at
		// the one rate.
		router.AddMiddleware(func(h message.HandlerFunc) message.HandlerFunc {
			return middleware.NewThrottle(int64(cfg.ThrottlePerSecond), time.Second).Middleware(h)
		})
	}
	router.AddMiddleware(known.Middleware, dedup.Middleware, withCause, logHandled(logger), middleware.Recoverer)
	return router, nil
}

// retry retries a failed handler with exponential backoff: RetryDelay,
// doubling up to MaxRetryDelay, with a fifth of jitter, MaxRetries times,
// each attempt on the message's context as it came (ResetContextOnRetry), and
// never for malformed input nor a message that arrived early.
//
// The first attempt is made before Watermill's Retry is: Retry builds a
// backoff, its options and closures for every message, a tenth of what the
// embedded system allocated, which the messages that succeed at once, nearly
// all, never use. A message that fails waits the first delay here, and Retry
// makes the remaining attempts, starting from the doubled delay.
func retry(cfg RouterConfig, logger watermill.LoggerAdapter) message.HandlerMiddleware {
	// A refusal (an aggregate not found, a state that says no) comes back
	// the same on every attempt: set aside at once, not after the retries.
	shouldRetry := func(err error) bool {
		return !fault.IsMalformed(err) && !errors.Is(err, fault.ErrEarly) && !errors.Is(err, refusal.ErrRefused)
	}
	rest := middleware.Retry{
		MaxRetries:          cfg.MaxRetries - 1,
		InitialInterval:     min(2*cfg.RetryDelay, cfg.MaxRetryDelay),
		MaxInterval:         cfg.MaxRetryDelay,
		Multiplier:          2,
		RandomizationFactor: 0.2,
		ResetContextOnRetry: true,
		ShouldRetry:         func(p middleware.RetryParams) bool { return shouldRetry(p.Err) },
		Logger:              logger,
	}
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx := msg.Context()
			out, err := h(msg)
			if err == nil || cfg.MaxRetries == 0 || !shouldRetry(err) {
				return out, err
			}
			// Watermill's Retry names neither the handler nor the message:
			// a logger of this message's own does, built only for a message
			// that failed.
			named := logger.With(watermill.LogFields{"handler": message.HandlerNameFromCtx(ctx), "message_id": msg.UUID})
			wait := time.Duration(float64(cfg.RetryDelay) * (0.8 + 0.4*rand.Float64()))
			named.Error("Error occurred, retrying", err, watermill.LogFields{"retry_no": 0, "max_retries": cfg.MaxRetries, "wait_time": wait})
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				// The router closes: the message is handed back, not poisoned.
				t.Stop()
				return out, fmt.Errorf("%w; the last attempt: %w", ctx.Err(), err)
			case <-t.C:
			}
			msg.SetContext(ctx)
			rest := rest
			rest.Logger = named
			return rest.Middleware(h)(msg)
		}
	}
}

// uncancelledPublisher publishes on a context that is not cancelled with the
// handler's: a message whose handler timed out must still reach the poison topic.
type uncancelledPublisher struct{ message.Publisher }

func (p uncancelledPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		m.SetContext(context.WithoutCancel(m.Context()))
	}
	return p.Publisher.Publish(topic, msgs...)
}

func waitWhileUnavailable(delay time.Duration) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			// Kept before the call: the handlers inside leave the message
			// with the context of its last attempt, which Timeout cancelled.
			ctx := msg.Context()
			out, err := h(msg)
			if err != nil && fault.IsTransient(err) {
				t := time.NewTimer(delay)
				defer t.Stop()
				select {
				case <-t.C:
				case <-ctx.Done():
				}
			}
			return out, err
		}
	}
}

// growStack grows the goroutine's stack to what a delivery needs, once and
// while the stack is still shallow. Watermill handles every message on a
// goroutine of its own, which starts with a small stack; the middlewares, the
// JSON decoding and the handler below go deep enough that the runtime grew
// and copied it three times over, each copy walking every frame: 17 % of the
// CPU of the in-process benchmark. One 32 KiB stack, grown before the first
// frame of the stack below, costs a fraction of that.
func growStack(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		reserveStack(len(msg.UUID))
		return h(msg)
	}
}

// reserveStack needs a 16 KiB frame, which makes the runtime grow the stack
// to 32 KiB in one step; the stack keeps that size when it returns, until a
// garbage collection finds it mostly unused and shrinks it.
//
//go:noinline
func reserveStack(i int) byte {
	// Indexed by an argument, so that the compiler keeps the frame.
	var frame [16 << 10]byte
	frame[i%len(frame)] = 1
	return frame[(i+1)%len(frame)]
}

// EarlySinceKey is the metadata key of when a requeued message was first
// found to have arrived before its predecessor.
const EarlySinceKey = "early_since"

// RequeuedForKey names the handler a requeued copy is for.
const RequeuedForKey = "requeued_for"

// skipCopiesForOthers lets only the handler that requeued a copy handle it.
// The copy goes to every consumer group of the topic; without the address
// each group that found it early too would requeue its own copy of every
// copy, and their number would grow with every round.
func skipCopiesForOthers(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		if to := msg.Metadata.Get(RequeuedForKey); to != "" && to != message.HandlerNameFromCtx(msg.Context()) {
			return nil, nil
		}
		return h(msg)
	}
}

// requeueEarly gives a message that arrived before its predecessor (an event
// whose earlier version a crashed process's relay has not published yet, or
// that waits in another consumer's pending list) the time to be overtaken,
// and bounds that time: past patience it is poisoned, with the reason, for an
// operator to replay once the predecessor is there.
//
// Handing the message back to the broker is not enough: Redis Streams and a
// blocking GoChannel deliver a nacked message again at once, ahead of the
// rest, and the predecessor behind it would never come. So the message is
// published again under the same id to the back of the topic it came from,
// and the original is acknowledged. The copy is addressed to this handler:
// every consumer group of the topic gets it, and the others let it pass.
func requeueEarly(pub message.Publisher, patience time.Duration, logger *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			out, err := h(msg)
			if err == nil || !errors.Is(err, fault.ErrEarly) {
				return out, err
			}
			now := time.Now()
			since, perr := time.Parse(time.RFC3339Nano, msg.Metadata.Get(EarlySinceKey))
			if perr != nil {
				since = now
			}
			if waited := now.Sub(since); waited >= patience {
				// Not wrapped: past its patience the message is no longer
				// transient, and the poison queue takes it.
				return out, fmt.Errorf("waited %s for its predecessor: %s", waited.Round(time.Second), err.Error())
			}
			again := msg.Copy()
			again.Metadata.Set(EarlySinceKey, since.Format(time.RFC3339Nano))
			again.Metadata.Set(RequeuedForKey, message.HandlerNameFromCtx(msg.Context()))
			again.SetContext(msg.Context())
			topic := message.SubscribeTopicFromCtx(msg.Context())
			if err := pub.Publish(topic, again); err != nil {
				return out, fault.Unavailable("bus", fmt.Errorf("requeue %s: %w", msg.UUID, err))
			}
			// For the parking lot: acknowledged, not handled.
			msg.Metadata.Set(requeuedKey, "true")
			// The message's context carries its id, handler and attempt.
			logger.InfoContext(msg.Context(), "message requeued behind its topic: it arrived before its predecessor",
				"topic", topic, "reason", err.Error())
			return out, nil
		}
	}
}

// finishAttempt detaches an attempt from the router's context. Router.Close
// cancels the context of every message in flight before it waits for their
// handlers, which would cut a store call short and fail work that was about
// to succeed; detached, the attempt runs to its end, still bounded by Timeout,
// and Retry, which watches the router's context, starts no other.
func finishAttempt(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		msg.SetContext(context.WithoutCancel(msg.Context()))
		return h(msg)
	}
}

type attemptsKey struct{}

// countAttempts gives the message a counter of the attempts Retry makes;
// withCause counts each and puts it on the message's log lines.
func countAttempts(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		msg.SetContext(context.WithValue(msg.Context(), attemptsKey{}, new(int)))
		return h(msg)
	}
}

// withCause gives the handler's context the message's correlation and
// causation, which records appended by the handler carry, and the log
// attributes that name the message on every line logged about it: its id,
// its correlation, and its own causation (the message it was the effect of).
func withCause(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		correlation := middleware.MessageCorrelationID(msg)
		if correlation == "" {
			correlation = msg.UUID
		}
		attempt := 1
		if n, ok := msg.Context().Value(attemptsKey{}).(*int); ok {
			*n++
			attempt = *n
		}
		ctx := eventstore.WithCause(msg.Context(), eventstore.Cause{CorrelationID: correlation, CausationID: msg.UUID})
		ctx = logging.WithAttrs(ctx,
			slog.String("correlation_id", correlation), slog.String("causation_id", msg.Metadata.Get(metadata.CausationIDKey)),
			slog.String("message_id", msg.UUID),
			slog.String("handler", message.HandlerNameFromCtx(msg.Context())), slog.Int("attempt", attempt))
		msg.SetContext(ctx)
		return h(msg)
	}
}

// logHandled logs each message a handler handled, at debug level: with the
// aggregate's id and version and the start of the handling, it shows which
// replica handled which of an aggregate's events, in what order and whether
// two handlings ever overlapped.
func logHandled(logger *slog.Logger) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			ctx := msg.Context()
			if !logger.Enabled(ctx, slog.LevelDebug) {
				return h(msg)
			}
			started := time.Now()
			out, err := h(msg)
			if err == nil {
				logger.DebugContext(ctx, "message handled", "aggregate_id", msg.Metadata.Get(metadata.AggregateIDKey),
					"aggregate_version", msg.Metadata.Get(metadata.AggregateVersionKey), "started", started)
			}
			return out, err
		}
	}
}
