// Package service is the composition root: it builds each service — orders,
// inventory, notifications — from configuration, with its own event store,
// read models, relay and router, and runs any subset of them in one process.
package service

import (
	"context"
	"fmt"
	"net/http"

	"shop/app/eventstore"
	"shop/app/notifications"
	"shop/app/operations"
	"shop/cqrs"
	"shop/ports/httpport"
)

// Service is one built service, ready to run.
type Service struct {
	Name string
	// Handler is the service's HTTP API.
	Handler http.Handler
	// Store is the service's event store.
	Store eventstore.Store

	processors *cqrs.Processors
	// assignment runs the partitions of the processors that this replica
	// consumes.
	assignment *cqrs.Assignment
	relay      *cqrs.Relay
	onStart    func(context.Context) error
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
	// Sender replaces the notifications' sender.
	Sender notifications.Sender
}

func (a Adapters) sender(def notifications.Sender) notifications.Sender {
	if a.Sender == nil {
		return def
	}
	return a.Sender
}

func (a Adapters) store(service string, s eventstore.Store) eventstore.Store {
	if a.Store == nil {
		return s
	}
	return a.Store(service, s)
}

func newService(name string, deps serviceDeps) (*Service, error) {
	svc, err := buildService(name, deps)
	if err != nil {
		return nil, err
	}
	if svc.assignment, err = deps.platform.newAssignment(deps.cfg, svc.Name, svc.processors); err != nil {
		return nil, err
	}
	return svc, nil
}

func buildService(name string, deps serviceDeps) (*Service, error) {
	switch name {
	case Orders:
		return newOrders(deps)
	case Inventory:
		return newInventory(deps)
	case Notifications:
		return newNotifications(deps)
	}
	return nil, fmt.Errorf("unknown service %q", name)
}

type serviceDeps struct {
	ctx      context.Context
	cfg      Config
	platform *Platform
	adapters Adapters
}
