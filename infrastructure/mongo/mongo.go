// Package mongo holds the MongoDB adapters: each service's event store and
// read models, in a database of its own. They use what a standalone mongod and
// MongoDB-compatible servers (FerretDB) both offer: single-document writes,
// unique indexes, no transactions and no change streams.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"shop/app/fault"
	"shop/infrastructure/breaker"
)

// Client is a connection to MongoDB behind a circuit breaker.
type Client struct {
	client  *mongo.Client
	breaker *breaker.Breaker
	prefix  string
}

// CommandObserver hears of every command the client sends to the server, by
// database and command name (insert, find, update, getMore...): each is one
// round trip, the unit the server's capacity is counted in.
type CommandObserver func(database, command string)

// Connect connects to url. Databases are named prefix+service. The driver
// reconnects by itself; Connect does not wait for the server. observe, when
// set, hears of every command sent.
func Connect(url, prefix string, b *breaker.Breaker, observe CommandObserver) (*Client, error) {
	opts := options.Client().ApplyURI(url).
		SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(5 * time.Second).
		SetMaxPoolSize(200).
		SetAppName("shop")
	if observe != nil {
		opts.SetMonitor(&event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
			observe(e.DatabaseName, e.CommandName)
		}})
	}
	c, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	return &Client{client: c, breaker: b, prefix: prefix}, nil
}

// Database is the database of a service.
func (c *Client) Database(service string) *mongo.Database {
	return c.client.Database(c.prefix + service)
}

// Ping checks that the server answers.
func (c *Client) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.client.Ping(ctx, readpref.Primary())
}

// Breaker is the client's circuit breaker.
func (c *Client) Breaker() *breaker.Breaker { return c.breaker }

// Close disconnects.
func (c *Client) Close(ctx context.Context) error { return c.client.Disconnect(ctx) }

// do runs a call through the breaker, with its errors classified.
func (c *Client) do(ctx context.Context, call func(ctx context.Context) error) error {
	return c.breaker.Do(ctx, func(ctx context.Context) error { return classify(call(ctx)) })
}

// findAll reads every document the filter selects, in one breaker call.
func findAll[T any](ctx context.Context, c *Client, coll *mongo.Collection, filter any, opts *options.FindOptionsBuilder) ([]T, error) {
	var docs []T
	err := c.do(ctx, func(ctx context.Context) error {
		cursor, err := coll.Find(ctx, filter, opts)
		if err != nil {
			return err
		}
		docs = nil // a retried read starts over
		return cursor.All(ctx, &docs)
	})
	return docs, err
}

// classify marks the failures of an unreachable or overloaded server as
// transient, so that they are retried and open the breaker; everything else
// (a duplicate key, a document not found) is an answer. No server selected,
// or a client closed, is a call that was never sent (fault.NotAttempted).
func classify(err error) error {
	if err == nil || errors.Is(err, mongo.ErrNoDocuments) || mongo.IsDuplicateKeyError(err) {
		return err
	}
	var selection topology.ServerSelectionError
	if errors.As(err, &selection) || errors.Is(err, mongo.ErrClientDisconnected) {
		return fault.NotAttempted("mongodb", err)
	}
	var pool driver.RetryablePoolError // a pool cleared after another call's network error
	var netErr net.Error
	if mongo.IsNetworkError(err) || mongo.IsTimeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &pool) || errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		serverCannotServe(err) {
		return fault.Unavailable("mongodb", err)
	}
	return err
}

// Codes of a server that cannot serve for now: shutting down, stepping down
// or not the primary any more, a network failure between servers.
var cannotServeCodes = map[int32]bool{
	6: true, 7: true, 89: true, 91: true, 189: true, 262: true, 9001: true, 10107: true,
	11600: true, 11602: true, 13435: true, 13436: true,
}

// serverCannotServe reports an answer that says the server cannot serve
// now, rather than that the request is wrong: MongoDB's codes above, and
// FerretDB's internal error (code 1) when its PostgreSQL refuses or drops
// its connection, which it reports only in the message (SQLSTATE 08…, a
// connection exception; 53300, too many clients; 57P…, shutting down).
func serverCannotServe(err error) bool {
	var cmd mongo.CommandError
	if !errors.As(err, &cmd) {
		return false
	}
	if cannotServeCodes[cmd.Code] {
		return true
	}
	return cmd.Code == 1 && (strings.Contains(cmd.Message, "SQLSTATE 08") || strings.Contains(cmd.Message, "SQLSTATE 53300") ||
		strings.Contains(cmd.Message, "SQLSTATE 57P") || strings.Contains(cmd.Message, "failed to connect to"))
}

// ensureIndexes creates the named indexes a collection lacks, and returns
// the names of those it had. It lists them first rather than relying on
// createIndexes being idempotent: FerretDB v1 fails when asked to create an
// index that exists. Replicas starting together race to create them: a
// creation that fails is followed by a look, and indexes found made by
// another process are success; a transient failure (FerretDB drops the
// connection of the loser of that race) is tried again, with growing waits,
// for up to indexPatience, so that a start-up race or a database still
// coming up does not end the process.
func (c *Client) ensureIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, indexPatience)
	defer cancel()
	wait := 100 * time.Millisecond
	for {
		existing, missing, err := c.missingIndexes(ctx, coll, models)
		if err == nil && len(missing) == 0 {
			return existing, nil
		}
		if err == nil {
			err = c.do(ctx, func(ctx context.Context) error { _, err := coll.Indexes().CreateMany(ctx, missing); return err })
			if err == nil {
				return existing, nil
			}
			// Made meanwhile by another process?
			if _, still, lerr := c.missingIndexes(ctx, coll, models); lerr == nil && len(still) == 0 {
				return existing, nil
			}
		}
		if !fault.IsTransient(err) {
			return existing, err
		}
		select {
		case <-ctx.Done():
			return existing, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// indexPatience bounds how long a start waits for its indexes.
const indexPatience = 30 * time.Second

// missingIndexes lists a collection's indexes, and which of models it lacks.
func (c *Client) missingIndexes(ctx context.Context, coll *mongo.Collection, models []mongo.IndexModel) (existing map[string]bool, missing []mongo.IndexModel, err error) {
	existing = map[string]bool{}
	err = c.do(ctx, func(ctx context.Context) error {
		specs, err := coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			return err
		}
		for _, spec := range specs {
			existing[spec.Name] = true
		}
		return nil
	})
	if err != nil {
		return existing, nil, err
	}
	for _, m := range models {
		var opts options.IndexOptions
		for _, set := range m.Options.List() {
			_ = set(&opts)
		}
		if opts.Name == nil || !existing[*opts.Name] {
			missing = append(missing, m)
		}
	}
	return existing, missing, nil
}
