// Package cqrs wires the application to Watermill: the message marshaler,
// topic naming, the command bus, the event processors and their partitions
// shared among replicas, the router with its middleware stack, and the relay
// that publishes stored events. The event types it marshals are the event
// store's registry (app/eventstore).
package cqrs
