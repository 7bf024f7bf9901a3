// Package system adapts the machine's clock and random identifiers to the
// application's Clock and IDs ports.
package system

import (
	"time"

	"github.com/google/uuid"
)

// Clock is the wall clock, in UTC.
type Clock struct{}

func (Clock) Now() time.Time { return time.Now().UTC() }

// IDs makes UUIDv7 identifiers: random, and ordered by creation time, which
// keeps the event store's id index append-mostly.
type IDs struct{}

func (IDs) NewID() string { return uuid.Must(uuid.NewV7()).String() }
