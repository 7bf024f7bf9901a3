// Package opsview is how the operators' tools show their results as JSON:
// the same shapes from the command line (--json) and the admin HTTP API.
package opsview

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"shop/app/eventstore"
	"shop/app/operations"
)

// TimeFormat is how times are written: UTC with milliseconds, as
// JavaScript's toISOString writes them.
const TimeFormat = "2006-01-02T15:04:05.000Z07:00"

// ParseTime reads what an operator writes for a time: a date (2023-12-01,
// midnight UTC) or an RFC 3339 time.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2023-12-01) or an RFC 3339 time", s)
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(TimeFormat)
}

// DeadLetter is a dead letter as JSON.
type DeadLetter struct {
	ID               string            `json:"id"`
	MessageID        string            `json:"messageId"`
	Handler          string            `json:"handler"`
	Topic            string            `json:"topic"`
	EventType        string            `json:"eventType"`
	AggregateID      string            `json:"aggregateId,omitempty"`
	AggregateVersion int               `json:"aggregateVersion,omitempty"`
	Reason           string            `json:"reason"`
	Status           string            `json:"status"`
	Failures         int               `json:"failures"`
	Replays          int               `json:"replays"`
	Parked           int               `json:"parked"`
	FirstFailedAt    string            `json:"firstFailedAt"`
	LastFailedAt     string            `json:"lastFailedAt"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	Payload          json.RawMessage   `json:"payload,omitempty"`
	PayloadText      string            `json:"payloadText,omitempty"`
	History          []Action          `json:"history,omitempty"`
}

// Action is an operator's action as JSON.
type Action struct {
	At   string `json:"at"`
	What string `json:"what"`
	By   string `json:"by"`
}

// FromDeadLetter shapes a dead letter; withPayload adds the payload and
// metadata (a listing leaves them out).
func FromDeadLetter(d operations.DeadLetter, withPayload bool) DeadLetter {
	out := DeadLetter{
		ID: d.ID, MessageID: d.MessageID, Handler: d.Handler, Topic: d.Topic, EventType: d.EventType,
		AggregateID: d.AggregateID, AggregateVersion: d.AggregateVersion, Reason: d.Reason, Status: d.Status.String(),
		Failures: d.Failures, Replays: d.Replays, Parked: d.Parked, FirstFailedAt: ts(d.FirstFailedAt), LastFailedAt: ts(d.LastFailedAt),
	}
	for _, a := range d.History {
		out.History = append(out.History, Action{At: ts(a.At), What: a.What, By: a.By})
	}
	if withPayload {
		out.Metadata = d.Metadata
		if json.Valid(d.Payload) {
			out.Payload = json.RawMessage(d.Payload)
		} else {
			out.PayloadText = string(d.Payload)
		}
	}
	return out
}

// Event is a stored event as JSON.
type Event struct {
	EventID     string `json:"eventId"`
	Type        string `json:"type"`
	AggregateID string `json:"aggregateId"`
	Version     int    `json:"version"`
	RecordedAt  string `json:"recordedAt"`
}

// Report is a replay's outcome as JSON.
type Report struct {
	RunID       string       `json:"runId,omitempty"`
	DryRun      bool         `json:"dryRun"`
	Selected    int          `json:"selected"`
	Published   int          `json:"published"`
	Quarantined int          `json:"quarantined"`
	Stopped     bool         `json:"stopped,omitempty"`
	ByReason    []Count      `json:"byReason,omitempty"`
	ByHandler   []Count      `json:"byHandler,omitempty"`
	ByType      []Count      `json:"byType,omitempty"`
	DeadLetters []DeadLetter `json:"deadLetters,omitempty"`
	Events      []Event      `json:"events,omitempty"`
}

// Count is one bar of a histogram.
type Count struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// Counts sorts a histogram, largest first.
func Counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{Key: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// FromReport shapes a replay's outcome.
func FromReport(r operations.Report) Report {
	out := Report{
		RunID: r.RunID, DryRun: r.DryRun, Selected: r.Selected, Published: r.Published, Quarantined: r.Quarantined, Stopped: r.Stopped,
		ByReason: Counts(r.ByReason), ByHandler: Counts(r.ByHandler), ByType: Counts(r.ByType),
	}
	for _, d := range r.DeadLetters {
		out.DeadLetters = append(out.DeadLetters, FromDeadLetter(d, false))
	}
	for _, e := range r.Events {
		out.Events = append(out.Events, FromRecord(e))
	}
	return out
}

// FromRecord shapes a stored event's envelope.
func FromRecord(e eventstore.Record) Event {
	return Event{EventID: e.EventID, Type: e.Type, AggregateID: e.AggregateID, Version: e.Version, RecordedAt: ts(e.RecordedAt)}
}

// Stats are dead letter counts as JSON.
type Stats struct {
	Total     int     `json:"total"`
	Parked    int     `json:"parked"`
	ByStatus  []Count `json:"byStatus"`
	ByHandler []Count `json:"byHandler"`
	ByType    []Count `json:"byType"`
	ByReason  []Count `json:"byReason"`
}

// FromStats shapes dead letter counts.
func FromStats(s operations.Stats) Stats {
	return Stats{Total: s.Total, Parked: s.Parked, ByStatus: Counts(s.ByStatus), ByHandler: Counts(s.ByHandler), ByType: Counts(s.ByType), ByReason: Counts(s.ByReason)}
}

// Run is a logged replay as JSON.
type Run struct {
	ID          string `json:"id"`
	Kind        string `json:"kind"`
	Filter      string `json:"filter"`
	By          string `json:"by"`
	StartedAt   string `json:"startedAt"`
	FinishedAt  string `json:"finishedAt"`
	Selected    int    `json:"selected"`
	Published   int    `json:"published"`
	Quarantined int    `json:"quarantined"`
	Stopped     bool   `json:"stopped,omitempty"`
	Error       string `json:"error,omitempty"`
}

// FromRun shapes a logged replay.
func FromRun(r operations.Run) Run {
	return Run{ID: r.ID, Kind: r.Kind, Filter: r.Filter, By: r.By, StartedAt: ts(r.StartedAt), FinishedAt: ts(r.FinishedAt),
		Selected: r.Selected, Published: r.Published, Quarantined: r.Quarantined, Stopped: r.Stopped, Error: r.Error}
}

// Rebuild is a rebuild's outcome as JSON.
type Rebuild struct {
	Projection string `json:"projection"`
	Events     int    `json:"events"`
	CaughtUp   int    `json:"caughtUp"`
	TookMs     int64  `json:"tookMs"`
}

// FromRebuild shapes a rebuild's outcome.
func FromRebuild(r operations.RebuildReport) Rebuild {
	return Rebuild{Projection: r.Name, Events: r.Events, CaughtUp: r.CaughtUp, TookMs: r.Took.Milliseconds()}
}

// SnapshotRebuild is what a rebuild of one aggregate type's snapshots did,
// as JSON.
type SnapshotRebuild struct {
	AggregateType string `json:"aggregateType"`
	Streams       int    `json:"streams"`
	Taken         int    `json:"taken"`
	TookMs        int64  `json:"tookMs"`
}

// FromSnapshotRebuild shapes a snapshot rebuild's outcome.
func FromSnapshotRebuild(r operations.SnapshotReport) SnapshotRebuild {
	return SnapshotRebuild{AggregateType: r.AggregateType, Streams: r.Streams, Taken: r.Taken, TookMs: r.Took.Milliseconds()}
}

// Erasure is what erasing a customer's personal data did, as JSON.
type Erasure struct {
	CustomerID                    string   `json:"customerId"`
	KeyDeleted                    bool     `json:"keyDeleted"`
	Orders                        []string `json:"orders"`
	EventsRedacted                int      `json:"eventsRedacted"`
	DeadLettersRedacted           int      `json:"deadLettersRedacted"`
	ParkedRedacted                int      `json:"parkedRedacted"`
	ArchivedNotificationsRedacted int      `json:"archivedNotificationsRedacted"`
}

// FromErasure shapes an erasure's outcome.
func FromErasure(e operations.Erasure) Erasure {
	orders := e.Orders
	if orders == nil {
		orders = []string{}
	}
	return Erasure{
		CustomerID: e.CustomerID, KeyDeleted: e.KeyDeleted, Orders: orders, EventsRedacted: e.EventsRedacted,
		DeadLettersRedacted: e.DeadLettersRedacted, ParkedRedacted: e.ParkedRedacted, ArchivedNotificationsRedacted: e.ArchivedNotificationsRedacted,
	}
}

// The other way, for a client of the admin API (the command line with
// --server): what the JSON says, as the use cases' types, so that both
// ways of running a command print the same.

func parseTS(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// ToDeadLetter reads a dead letter's JSON.
func ToDeadLetter(v DeadLetter) (operations.DeadLetter, error) {
	status, err := operations.StatusFromString(v.Status)
	if err != nil {
		return operations.DeadLetter{}, err
	}
	d := operations.DeadLetter{
		ID: v.ID, MessageID: v.MessageID, Handler: v.Handler, Topic: v.Topic, EventType: v.EventType,
		AggregateID: v.AggregateID, AggregateVersion: v.AggregateVersion, Reason: v.Reason, Status: status,
		Failures: v.Failures, Replays: v.Replays, Parked: v.Parked, Metadata: v.Metadata, Payload: []byte(v.Payload),
	}
	if v.PayloadText != "" {
		d.Payload = []byte(v.PayloadText)
	}
	if d.FirstFailedAt, err = parseTS(v.FirstFailedAt); err != nil {
		return d, err
	}
	if d.LastFailedAt, err = parseTS(v.LastFailedAt); err != nil {
		return d, err
	}
	for _, a := range v.History {
		at, err := parseTS(a.At)
		if err != nil {
			return d, err
		}
		d.History = append(d.History, operations.Action{At: at, What: a.What, By: a.By})
	}
	return d, nil
}

func toCounts(cs []Count) map[string]int {
	m := make(map[string]int, len(cs))
	for _, c := range cs {
		m[c.Key] = c.Count
	}
	return m
}

// ToStats reads dead letter counts.
func ToStats(s Stats) operations.Stats {
	return operations.Stats{Total: s.Total, Parked: s.Parked, ByStatus: toCounts(s.ByStatus), ByHandler: toCounts(s.ByHandler), ByType: toCounts(s.ByType), ByReason: toCounts(s.ByReason)}
}

// ToReport reads a replay's outcome.
func ToReport(v Report) (operations.Report, error) {
	r := operations.Report{
		RunID: v.RunID, DryRun: v.DryRun, Selected: v.Selected, Published: v.Published, Quarantined: v.Quarantined, Stopped: v.Stopped,
		ByReason: toCounts(v.ByReason), ByHandler: toCounts(v.ByHandler), ByType: toCounts(v.ByType),
	}
	for _, dv := range v.DeadLetters {
		d, err := ToDeadLetter(dv)
		if err != nil {
			return r, err
		}
		r.DeadLetters = append(r.DeadLetters, d)
	}
	for _, e := range v.Events {
		at, err := parseTS(e.RecordedAt)
		if err != nil {
			return r, err
		}
		r.Events = append(r.Events, eventstore.Record{EventID: e.EventID, Type: e.Type, AggregateID: e.AggregateID, Version: e.Version, RecordedAt: at})
	}
	return r, nil
}

// ToRebuild reads a rebuild's outcome.
func ToRebuild(v Rebuild) operations.RebuildReport {
	return operations.RebuildReport{Name: v.Projection, Events: v.Events, CaughtUp: v.CaughtUp, Took: time.Duration(v.TookMs) * time.Millisecond}
}

func ToErasure(v Erasure) operations.Erasure {
	return operations.Erasure{
		CustomerID: v.CustomerID, KeyDeleted: v.KeyDeleted, Orders: v.Orders, EventsRedacted: v.EventsRedacted,
		DeadLettersRedacted: v.DeadLettersRedacted, ParkedRedacted: v.ParkedRedacted, ArchivedNotificationsRedacted: v.ArchivedNotificationsRedacted,
	}
}

func ToSnapshotRebuild(v SnapshotRebuild) operations.SnapshotReport {
	return operations.SnapshotReport{AggregateType: v.AggregateType, Streams: v.Streams, Taken: v.Taken, Took: time.Duration(v.TookMs) * time.Millisecond}
}
