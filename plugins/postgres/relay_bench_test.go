package postgres

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"testing"

	"github.com/jackc/pgproto3/v2"

	"github.com/keyway-dev/keyway/sdk"
)

// countingHost takes audit events and keeps only their number.
type countingHost struct {
	recordingHost
	n sdk.AuditTicket
}

func (h *countingHost) AuditQueued(_ context.Context, events ...sdk.AuditEvent) (sdk.AuditTicket, error) {
	h.n += sdk.AuditTicket(len(events))
	return h.n, nil
}

// encoder is a protocol message.
type encoder interface{ Encode([]byte) ([]byte, error) }

// selectRound is what pgbench's select-only transaction exchanges, per
// query mode: the client's messages, then the server's answers.
func selectRound(b *testing.B, prepared bool, aid int) (client, server []byte) {
	b.Helper()
	enc := func(dst []byte, msgs ...encoder) []byte {
		for _, m := range msgs {
			var err error
			if dst, err = m.Encode(dst); err != nil {
				b.Fatal(err)
			}
		}
		return dst
	}
	if prepared {
		client = enc(nil,
			&pgproto3.Bind{PreparedStatement: "P0_1", Parameters: [][]byte{[]byte(strconv.Itoa(aid))}},
			&pgproto3.Execute{}, &pgproto3.Sync{})
	} else {
		client = enc(nil, &pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = " + strconv.Itoa(aid) + ";"})
	}
	var answers []encoder
	if prepared {
		answers = append(answers, &pgproto3.BindComplete{})
	} else {
		answers = append(answers, &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("abalance"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}})
	}
	answers = append(answers, &pgproto3.DataRow{Values: [][]byte{[]byte("0")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")}, &pgproto3.ReadyForQuery{TxStatus: 'I'})
	return client, enc(nil, answers...)
}

// BenchmarkRelayAuditedSelect relays pgbench's select-only transaction
// through both of the audited relay's directions, the client's messages
// of a batch of transactions first and then the server's answers, and
// reports the cost per transaction: what auditing adds to relaying
// (the bytes are copied into io.Discard, with no TLS).
func BenchmarkRelayAuditedSelect(b *testing.B) {
	for _, prepared := range []bool{false, true} {
		name := "simple"
		if prepared {
			name = "prepared"
		}
		b.Run(name, func(b *testing.B) {
			const batch = 256
			var client, server []byte
			for i := range batch {
				c, s := selectRound(b, prepared, 1000+i)
				client, server = append(client, c...), append(server, s...)
			}
			tr := newTracker(testAudit(&countingHost{}), 1024)
			if prepared {
				tr.statements["P0_1"] = statement{text: "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"}
			}
			bufs := newBufferPool()
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; done += batch {
				err := relayFromClient(bytes.NewReader(client), io.Discard, bufs, tr, func(int) {})
				if err != io.EOF {
					b.Fatal(err)
				}
				err = relayFromServer(bytes.NewReader(server), io.Discard, bufs, tr, func(int) {})
				if err != io.EOF {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64((b.N+batch-1)/batch*batch), "ns/tx")
		})
	}
}

// BenchmarkRelayStream relays a large result, rows of 1,000 bytes as
// bench's stream of select repeat('x', 1000) sends them, from a server
// that writes it over TLS in 8 KiB writes (PostgreSQL's send buffer) to
// a client over TLS, which reads and drops it, both on loopback TCP: the
// relay's buffers set the TLS reads, the records written and the system
// calls per byte.
func BenchmarkRelayStream(b *testing.B) {
	const rows = 4096
	row, err := (&pgproto3.DataRow{Values: [][]byte{bytes.Repeat([]byte("x"), 1000)}}).Encode(nil)
	if err != nil {
		b.Fatal(err)
	}
	result := bytes.Repeat(row, rows)
	server, upstream := tlsPair(b)
	client, writer := tlsPair(b)
	send, sent := make(chan struct{}), make(chan error, 1)
	go func() {
		for range send {
			var err error
			for rest := result; len(rest) > 0 && err == nil; rest = rest[min(len(rest), 8<<10):] {
				_, err = server.Write(rest[:min(len(rest), 8<<10)])
			}
			sent <- err
		}
	}()
	drained := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, client)
		drained <- err
	}()
	tr := newTracker(testAudit(&countingHost{}), 1024)
	bufs := newBufferPool()
	b.SetBytes(int64(len(result)))
	b.ReportAllocs()
	for b.Loop() {
		send <- struct{}{}
		src := io.LimitReader(upstream, int64(len(result)))
		if err := relayFromServer(src, writer, bufs, tr, func(int) {}); err != io.EOF {
			b.Fatal(err)
		}
		if err := <-sent; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(send)
	_ = writer.Close()
	if err := <-drained; err != nil {
		b.Fatal(err)
	}
}
