package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/google/uuid"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/app/fault"
	"shop/app/personal"
	"shop/domain/order"
	"shop/domain/refusal"
)

var (
	// ErrAlreadyPlaced is returned when a request with an idempotency key was
	// already fulfilled: the order with the command's id is the answer.
	ErrAlreadyPlaced = refusal.New(refusal.Conflict, "already_placed", "order already placed for this idempotency key")
	// ErrIdempotencyKeyReused is returned when an idempotency key comes back
	// with a different order.
	ErrIdempotencyKeyReused = refusal.New(refusal.Invalid, "idempotency_key_reused", "this Idempotency-Key was used for a different order; use a new key")
)

// PlaceOrder places a new order. With an IdempotencyKey, OrderID must be
// derived from the key, so that a repeated request names the same order.
type PlaceOrder struct {
	OrderID        string
	CustomerID     string
	Items          []order.Item
	Contact        order.Contact
	IdempotencyKey string
}

func (PlaceOrder) CommandName() string { return "orders.place_order" }

// IdempotencyKeys remembers, for a while, which request each key was used for.
type IdempotencyKeys interface {
	// Claim stores fingerprint under key unless the key already holds one,
	// and returns the fingerprint the key holds afterwards.
	Claim(ctx context.Context, key, fingerprint string) (held string, err error)
}

// PlaceOrderHandler handles PlaceOrder and answers with the order placed.
type PlaceOrderHandler decorator.AnsweringHandler[PlaceOrder, OrderState]

type placeOrderHandler struct {
	repo   Repository
	keys   IdempotencyKeys
	vault  Opener
	clock  eventstore.Clock
	logger *slog.Logger
}

// Opener opens a customer's sealed personal data in place (app/personal):
// personal.ErrErased once the customer's data was erased.
type Opener interface {
	Open(ctx context.Context, subject string, values ...*string) error
}

// NewPlaceOrderHandler builds the handler.
func NewPlaceOrderHandler(repo Repository, keys IdempotencyKeys, vault Opener, clock eventstore.Clock, obs decorator.Observability) (PlaceOrderHandler, error) {
	if repo == nil || keys == nil || vault == nil || clock == nil || obs.Logger == nil {
		return nil, errors.New("place order: repository, idempotency keys, vault, clock and logger are required")
	}
	return decorator.ApplyAnsweringDecorators[PlaceOrder, OrderState](placeOrderHandler{repo: repo, keys: keys, vault: vault, clock: clock, logger: obs.Logger}, obs), nil
}

// Handle places the order and answers with it as placed, from the aggregate
// in hand: no read follows the write. A request repeated with its idempotency
// key places nothing and answers ErrAlreadyPlaced with the order as it stands
// now, also when both copies race: the order id comes from the key, and the
// event store accepts only one first event per order. The key store answers a
// reused key with another body at once; when it is down, or the key expired,
// the stored order is compared with the request. The stored contact is
// sealed: it is opened for that, and for the answer.
func (h placeOrderHandler) Handle(ctx context.Context, cmd PlaceOrder) (OrderState, error) {
	o, err := order.Place(cmd.OrderID, cmd.CustomerID, cmd.Items, cmd.Contact, h.clock.Now())
	if err != nil {
		return OrderState{}, err
	}
	if cmd.IdempotencyKey != "" {
		fp := fingerprint(cmd)
		held, err := h.keys.Claim(ctx, cmd.IdempotencyKey, fp)
		switch {
		case err != nil:
			h.logger.WarnContext(ctx, "idempotency key store unavailable; relying on the event store", "error", err)
		case held != fp:
			return OrderState{}, ErrIdempotencyKeyReused
		}
	}
	// Taken before Add: once stored, the aggregate is cached, and the next
	// command of the order may change it while the caller reads the answer.
	placed := StateOf(o)
	err = h.repo.Add(ctx, o)
	if err == nil {
		return placed, nil
	}
	if !errors.Is(err, eventstore.ErrAlreadyExists) {
		if !outcomeUnknown(err) {
			return OrderState{}, err
		}
		// The write may have been made before the answer was lost: find out
		// rather than refuse an order that is stored.
		stored, found, rerr := resolve(ctx, h.repo, cmd.OrderID)
		if rerr != nil {
			return OrderState{}, &OutcomeUnknownError{OrderID: cmd.OrderID, IdempotencyKey: cmd.IdempotencyKey, Err: err}
		}
		if !found {
			return OrderState{}, err
		}
		return h.repeated(ctx, stored, cmd)
	}
	if cmd.IdempotencyKey == "" {
		return OrderState{}, err
	}
	existing, err := h.repo.Load(ctx, cmd.OrderID)
	if err != nil {
		return OrderState{}, err
	}
	state, err := h.repeated(ctx, existing, cmd)
	if err != nil {
		return OrderState{}, err
	}
	return state, ErrAlreadyPlaced
}

// repeated answers cmd with the stored order it repeats, its contact opened;
// ErrIdempotencyKeyReused when the stored order is another. Once the
// customer's data is erased the contact is empty, and only the customer and
// the items are compared.
func (h placeOrderHandler) repeated(ctx context.Context, o *order.Order, cmd PlaceOrder) (OrderState, error) {
	state := StateOf(o)
	c := &state.Contact
	err := h.vault.Open(ctx, o.CustomerID(), &c.Email, &c.Phone, &c.DeviceToken)
	erased := errors.Is(err, personal.ErrErased)
	if err != nil && !erased {
		return OrderState{}, err
	}
	if o.CustomerID() != cmd.CustomerID || !reflect.DeepEqual(o.Items(), cmd.Items) || (!erased && state.Contact != cmd.Contact) {
		return OrderState{}, ErrIdempotencyKeyReused
	}
	return state, nil
}

// OutcomeUnknownError is a write whose answer was lost and whose effect
// could not be read back in time: the order may be stored. Sending the
// request again with its Idempotency-Key, or reading the order, tells.
type OutcomeUnknownError struct {
	OrderID        string
	IdempotencyKey string
	Err            error
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("order %s: the outcome of its write is not known: %v", e.OrderID, e.Err)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// outcomeUnknown reports a failed write that may have been made all the
// same: the store was reached, and the answer lost on the way back. A write
// that was refused, or never sent, needs no looking for.
func outcomeUnknown(err error) bool {
	return fault.IsTransient(err) && !errors.Is(err, fault.ErrNotAttempted)
}

// resolveWithin bounds how long a command looks for the effect of a write
// whose answer was lost: about the breaker's first open period twice over,
// so that a short outage is waited out.
const resolveWithin = 3 * time.Second

// resolve reads an order back after a failed write, trying again while the
// store cannot answer, until resolveWithin has passed or ctx is done; an
// error means the question stays open.
func resolve(ctx context.Context, repo Repository, id string) (*order.Order, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveWithin)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		o, err := repo.Load(ctx, id)
		switch {
		case err == nil:
			return o, true, nil
		case errors.Is(err, eventstore.ErrNotFound):
			return nil, false, nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, false, err
		case <-t.C:
		}
	}
}

// fingerprint identifies what a request asks for, whatever its JSON spelling.
func fingerprint(cmd PlaceOrder) string {
	b, _ := json.Marshal([]any{cmd.CustomerID, cmd.Items, cmd.Contact})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

var idempotencyKeyNamespace = uuid.MustParse("0b7e1a52-8f0e-4c8e-a1a4-2d2f7f1e9c30")

// OrderIDForKey derives the order id of an idempotency key: the same key
// always names the same order.
func OrderIDForKey(key string) string {
	return uuid.NewSHA1(idempotencyKeyNamespace, []byte(key)).String()
}
