package orders

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"

	"github.com/google/uuid"

	"shop/app/decorator"
	"shop/app/eventstore"
	"shop/domain/order"
)

var (
	// ErrAlreadyPlaced is returned when a request with an idempotency key was
	// already fulfilled: the order with the command's id is the answer.
	ErrAlreadyPlaced = errors.New("order already placed for this idempotency key")
	// ErrIdempotencyKeyReused is returned when an idempotency key comes back
	// with a different order.
	ErrIdempotencyKeyReused = errors.New("idempotency key already used for a different order")
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
	clock  eventstore.Clock
	logger *slog.Logger
}

// NewPlaceOrderHandler builds the handler.
func NewPlaceOrderHandler(repo Repository, keys IdempotencyKeys, clock eventstore.Clock, obs decorator.Observability) (PlaceOrderHandler, error) {
	if repo == nil || keys == nil || clock == nil || obs.Logger == nil {
		return nil, errors.New("place order: repository, idempotency keys, clock and logger are required")
	}
	return decorator.ApplyAnsweringDecorators[PlaceOrder, OrderState](placeOrderHandler{repo: repo, keys: keys, clock: clock, logger: obs.Logger}, obs), nil
}

// Handle places the order and answers with it as placed, from the aggregate
// in hand: no read follows the write. A request repeated with its idempotency
// key places nothing and answers ErrAlreadyPlaced with the order as it stands
// now, also when both copies race: the order id comes from the key, and the
// event store accepts only one first event per order. The key store answers a
// reused key with another body at once; when it is down, or the key expired,
// the stored order is compared with the request.
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
	if !errors.Is(err, eventstore.ErrAlreadyExists) || cmd.IdempotencyKey == "" {
		return OrderState{}, err
	}
	existing, err := h.repo.Load(ctx, cmd.OrderID)
	if err != nil {
		return OrderState{}, err
	}
	if !samePlacement(existing, cmd) {
		return OrderState{}, ErrIdempotencyKeyReused
	}
	return StateOf(existing), ErrAlreadyPlaced
}

// fingerprint identifies what a request asks for, whatever its JSON spelling.
func fingerprint(cmd PlaceOrder) string {
	b, _ := json.Marshal([]any{cmd.CustomerID, cmd.Items, cmd.Contact})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func samePlacement(o *order.Order, cmd PlaceOrder) bool {
	return o.CustomerID() == cmd.CustomerID && o.Contact() == cmd.Contact && reflect.DeepEqual(o.Items(), cmd.Items)
}

var idempotencyKeyNamespace = uuid.MustParse("0b7e1a52-8f0e-4c8e-a1a4-2d2f7f1e9c30")

// OrderIDForKey derives the order id of an idempotency key: the same key
// always names the same order.
func OrderIDForKey(key string) string {
	return uuid.NewSHA1(idempotencyKeyNamespace, []byte(key)).String()
}
