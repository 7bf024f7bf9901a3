// Package notifications holds the use cases of the notifications service:
// telling customers what happened to their orders on the channels they left,
// once per order, kind and channel, and the queries on what was sent.
package notifications

import (
	"context"

	"shop/app/eventstore"
	"shop/domain/notification"
)

// Repository is the event-sourced store of correspondences, one per order.
type Repository = *eventstore.Repository[*notification.Correspondence]

// NewRepository builds the correspondences repository on a store.
func NewRepository(cfg eventstore.RepositoryConfig[*notification.Correspondence]) (Repository, error) {
	cfg.AggregateType = notification.AggregateType
	cfg.FromHistory = notification.FromHistory
	cfg.Snapshot = Snapshots()
	return eventstore.NewRepository(cfg)
}

// Snapshots encodes a correspondence's snapshots.
func Snapshots() eventstore.SnapshotCodec[*notification.Correspondence] {
	return eventstore.JSONSnapshot(notification.SnapshotSchema, (*notification.Correspondence).Snapshot, notification.FromSnapshot)
}

// Message is one notification on its way to a channel.
type Message struct {
	// IdempotencyKey is the same for every attempt of one notification, for
	// providers that drop repeats.
	IdempotencyKey string
	Channel        notification.Channel
	Recipient      string
	Subject        string
	Body           string
}

// Sender delivers messages. A failure that is not the sender's fault alone
// (provider down, breaker open) is fault.Unavailable; a recipient the provider
// refuses for good is fault.Malformed.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// Receipt says how a delivered message went out.
type Receipt struct {
	// Logged is set when the message went to the log only: no provider is
	// configured for its channel.
	Logged bool
}

// Application is everything the notifications service can do, as its ports see it.
type Application struct {
	Commands Commands
	Queries  Queries
}

// Commands are the notifications service's command handlers.
type Commands struct {
	SendNotification SendNotificationHandler
}

// Queries are the notifications service's query handlers.
type Queries struct {
	Notifications ListNotificationsHandler
}
