package engine

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/keyway-dev/keyway/examples/mysql/wire"
	"github.com/keyway-dev/keyway/sdk"
)

// maxCommand bounds a command the plugin reads whole; MariaDB's own
// max_allowed_packet is 16 MiB by default.
const maxCommand = 64 << 20

// headSize is how much of each answer packet the tracker sees: all of
// the small ones (OK, ERR, EOF, column counts), the start of large rows,
// which stream through without being buffered.
const headSize = 16 << 10

// relay passes a logged-in session's packets both ways and tells the
// tracker about each, so that every command's outcome is recorded before
// the packet that completes its answer reaches the client.
type relay struct {
	client, upstream net.Conn
	tracker          *tracker
	conns            *connections
	database         string
	// record queues an outcome's audit event and recorded waits until
	// the host holds it; both are nil when statements are not recorded.
	record            func(*outcome)
	recorded          func() error
	countIn, countOut func(int)
	// ending is closed when keyway ends the session, for the reason
	// endReason gives; nil when it never does.
	ending    <-chan struct{}
	endReason func() sdk.EndReason

	// tmu guards the tracker, wmu the writes to the client.
	tmu, wmu sync.Mutex
	out      *bufio.Writer
}

// run relays until either side ends, and returns why.
func (r *relay) run() string {
	r.out = bufio.NewWriterSize(r.client, 32<<10)
	var once sync.Once
	var reason string
	end := func(why string) {
		once.Do(func() {
			reason = why
			_ = r.client.Close()
			_ = r.upstream.Close()
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		end(r.fromClient())
	}()
	go func() {
		select {
		case <-r.ending:
			end(r.endSession())
		case <-done:
		}
	}()
	end(r.fromServer())
	<-done
	return reason
}

// endSession tells the client why keyway ends its session, between two
// packets of the server's (the write lock is held for a whole packet),
// with the ERR a killed connection gets.
func (r *relay) endSession() string {
	why := r.endReason()
	msg := why.Message
	if msg == "" {
		msg = "keyway ended the session"
	}
	r.reply(0, &wire.Error{Code: wire.ErConnectionKilled, SQLState: "70100", Message: msg})
	return "keyway ended the session (" + why.Kind + ")"
}

// fromClient reads the client's commands whole and passes them on.
func (r *relay) fromClient() string {
	br := bufio.NewReaderSize(r.client, 16<<10)
	rd := wire.NewReader(br)
	rd.Limit = maxCommand
	up := bufio.NewWriterSize(r.upstream, 16<<10)
	for {
		pkt, err := rd.Next()
		if errors.Is(err, wire.ErrTooLarge) {
			r.reply(rd.LastSeq+1, &wire.Error{Code: wire.ErPacketTooLarge, SQLState: "08S01",
				Message: "keyway: a command larger than 64 MiB cannot be audited, so the session ends"})
			return "a command over the size limit"
		}
		if err != nil {
			return "the client closed the connection"
		}
		r.countIn(len(pkt.Payload) + 4)
		r.tmu.Lock()
		reply, done, err := r.tracker.fromClient(pkt.Payload, false)
		r.tmu.Unlock()
		if err != nil {
			return err.Error()
		}
		if err := r.recordAll(done); err != nil {
			return err.Error()
		}
		if reply != nil {
			r.reply(pkt.Seq+1, reply)
			continue
		}
		buf, _ := wire.AppendPacket(nil, pkt.Seq, r.rewriteKill(pkt.Payload))
		if _, err := up.Write(buf); err != nil {
			return "the database closed the connection"
		}
		if br.Buffered() == 0 {
			if err := up.Flush(); err != nil {
				return "the database closed the connection"
			}
		}
		if pkt.Payload[0] == wire.ComQuit {
			_ = up.Flush()
			return "the client quit"
		}
	}
}

// fromServer passes the database's answers on, packet by packet,
// streaming large ones.
func (r *relay) fromServer() string {
	br := bufio.NewReaderSize(r.upstream, 32<<10)
	head := make([]byte, headSize)
	continued := false
	for {
		n, seq, err := wire.ReadHeader(br)
		if err != nil {
			return "the database closed the connection"
		}
		k := min(n, len(head))
		if _, err := io.ReadFull(br, head[:k]); err != nil {
			return "the database closed the connection"
		}
		var done []*outcome
		var replies []*wire.Error
		if !continued {
			r.tmu.Lock()
			done, replies = r.tracker.fromServer(head[:k], n)
			r.tmu.Unlock()
		}
		continued = n == 0xffffff
		if err := r.recordAll(done); err != nil {
			return err.Error()
		}
		r.wmu.Lock()
		err = r.pass(br, head[:k], n, seq, replies)
		if err == nil && br.Buffered() == 0 {
			err = r.out.Flush()
		}
		r.wmu.Unlock()
		if err != nil {
			return "the client closed the connection"
		}
		r.countOut(n + 4)
	}
}

// pass writes one packet to the client, its head and then the rest
// streamed from br, and the replies whose turn comes after it.
func (r *relay) pass(br io.Reader, head []byte, n int, seq byte, replies []*wire.Error) error {
	hdr := []byte{byte(n), byte(n >> 8), byte(n >> 16), seq}
	if _, err := r.out.Write(hdr); err != nil {
		return err
	}
	if _, err := r.out.Write(head); err != nil {
		return err
	}
	if rest := n - len(head); rest > 0 {
		if _, err := io.CopyN(r.out, br, int64(rest)); err != nil {
			return err
		}
	}
	for _, e := range replies {
		if _, err := r.out.Write(mustPacket(1, e)); err != nil {
			return err
		}
	}
	return nil
}

// reply answers a refused command in the server's place.
func (r *relay) reply(seq byte, e *wire.Error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if _, err := r.out.Write(mustPacket(seq, e)); err == nil {
		_ = r.out.Flush()
	}
}

// recordAll records outcomes and waits until the host holds them.
func (r *relay) recordAll(done []*outcome) error {
	if r.record == nil || len(done) == 0 {
		return nil
	}
	for _, o := range done {
		r.record(o)
	}
	return r.recorded()
}

func mustPacket(seq byte, e *wire.Error) []byte {
	b, _ := wire.AppendPacket(nil, seq, e.Append(nil))
	return b
}
