// Package service is the composition root: it builds each service — orders,
// inventory, notifications — from configuration, with its own event store,
// read models, relay and router, and runs any subset of them in one process.
package service

import (
	"context"
	"net/http"

	"shop/app/eventstore"
	"shop/app/operations"
	"shop/app/personal"
	"shop/cqrs"
	"shop/infrastructure/tracing"
	"shop/ports/httpport"
)

// Service is one built service, ready to run.
type Service struct {
	Name string
	// Handler is the service's HTTP API.
	Handler http.Handler
	// Store is the service's event store.
	Store eventstore.Store
	// snapshots keeps the snapshots of its streams.
	snapshots eventstore.Snapshots

	processors *cqrs.Processors
	// assignment runs the partitions of the processors that this replica
	// consumes.
	assignment *cqrs.Assignment
	relay      *cqrs.Relay
	onStart    func(context.Context) error
	background func(context.Context)
	// rebuild rebuilds the service's read model; zero for a service that
	// keeps none.
	rebuild operations.Rebuild
	// withAdmin builds the HTTP API with the admin routes (orders only).
	withAdmin func(httpport.Admin) http.Handler
}

// Adapters replaces adapters a service would otherwise build from configuration.
type Adapters struct {
	// Store wraps the event store of the named service.
	Store func(service string, s eventstore.Store) eventstore.Store
	// PersonalKeys, when set, is the key store of customers' personal data
	// instead of MongoDB's or the process's memory: one in memory that
	// systems of one test share, as processes share MongoDB's.
	PersonalKeys personal.Keys
	// Parking, when set, holds the messages waiting behind dead letters
	// instead of MongoDB's operations database or the process's memory;
	// shared like PersonalKeys.
	Parking operations.Parking
	// Tracing, when set, traces instead of what the OTEL_* variables say:
	// a test's, recording spans in memory.
	Tracing *tracing.Tracing
	// Handler wraps the named event handler (such as
	// "inventory.product-projection").
	Handler func(handler string, h cqrs.EventHandler) cqrs.EventHandler
}

func (a Adapters) handler(name string, h cqrs.EventHandler) cqrs.EventHandler {
	if a.Handler == nil {
		return h
	}
	return a.Handler(name, h)
}

func (a Adapters) store(service string, s eventstore.Store) eventstore.Store {
	if a.Store == nil {
		return s
	}
	return a.Store(service, s)
}
