package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Event is one change a watch reports.
type Event struct {
	// Deleted: the key was deleted (KV has its key and the revision of
	// the deletion); else KV is what was put.
	Deleted bool
	KV      KeyValue
}

// CompactedError is a watch from a revision etcd no longer keeps: it
// compacted its history up to Revision.
type CompactedError struct{ Revision int64 }

func (e *CompactedError) Error() string {
	return fmt.Sprintf("etcd: required revision has been compacted (history starts at %d)", e.Revision)
}

type watchRequest struct {
	CreateRequest watchCreate `json:"create_request"`
}

type watchCreate struct {
	Key           []byte `json:"key"`
	RangeEnd      []byte `json:"range_end"`
	StartRevision int64  `json:"start_revision,string,omitempty"`
}

// watchMessage is one line of the gateway's stream.
type watchMessage struct {
	Result *struct {
		Canceled        bool   `json:"canceled"`
		CancelReason    string `json:"cancel_reason"`
		CompactRevision int64  `json:"compact_revision,string"`
		Events          []struct {
			Type string   `json:"type"` // "DELETE"; absent for a put
			KV   KeyValue `json:"kv"`
		} `json:"events"`
	} `json:"result"`
	Error *answerError `json:"error"`
}

var errNotCreated = errors.New("etcd: watch not created in time")

// Watch streams the changes to the keys that start with prefix, from
// revision rev on, to apply: once with no events when etcd created the
// watch, then with each batch of events, in revision order. It runs on its
// own connection until ctx ends (it returns ctx.Err()), etcd compacted
// the revisions it needs (*CompactedError), or the stream breaks; it never
// returns nil.
func (c *Client) Watch(ctx context.Context, prefix string, rev int64, apply func([]Event)) error {
	next := rev
	return c.withToken(ctx, func(token string) error {
		return c.watch(ctx, token, prefix, &next, apply)
	})
}

// watch is one stream; next moves past every event applied, so that a
// retry with a new token resumes where this one stopped.
func (c *Client) watch(parent context.Context, token, prefix string, next *int64, apply func([]Event)) error {
	body, err := json.Marshal(watchRequest{watchCreate{Key: []byte(prefix), RangeEnd: prefixEnd(prefix), StartRevision: *next}})
	if err != nil {
		return err
	}
	// etcd must create the watch within the timeout; after that the
	// stream is silent for as long as nothing changes.
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	slow := time.AfterFunc(c.timeout, func() { cancel(errNotCreated) })
	defer slow.Stop()

	r, err := c.post(ctx, "/v3/watch", token, body, true)
	if err != nil {
		return streamErr(ctx, parent, err)
	}
	defer r.body.Close()
	if r.code != 200 {
		return refusal(r)
	}
	dec := json.NewDecoder(r.body)
	for {
		var m watchMessage
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return streamErr(ctx, parent, err)
		}
		res := m.Result
		switch {
		case m.Error != nil:
			return m.Error.err()
		case res == nil:
			return errors.New("etcd: watch message without a result")
		case res.CompactRevision > 0:
			return &CompactedError{Revision: res.CompactRevision}
		case res.Canceled:
			return &Error{Message: "watch canceled: " + res.CancelReason}
		}
		slow.Stop()
		events := make([]Event, len(res.Events))
		for i, ev := range res.Events {
			events[i] = Event{Deleted: ev.Type == "DELETE", KV: ev.KV}
			*next = ev.KV.ModRevision + 1
		}
		apply(events)
	}
}

// streamErr says why a watch ended: its caller's context, the watch not
// created in time, or err.
func streamErr(ctx, parent context.Context, err error) error {
	switch {
	case parent.Err() != nil:
		return parent.Err()
	case context.Cause(ctx) == errNotCreated:
		return errNotCreated
	}
	return fmt.Errorf("etcd: watch stream broke: %w", err)
}
