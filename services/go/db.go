package main

// The database: a pgxpool of SERVICE_DB_POOL_SIZE connections, the SQL of
// services/common/sql.py, and outages answered as docs/contract.md's "Database outages" says.
//
// How an outage looks from here: every request acquires a connection, which first proves
// itself alive (alive(), a non-blocking peek at its socket: a connection the server closed
// while it sat idle is destroyed, never handed out), or connects anew. A stopped Postgres
// refuses a connection at once, and the connect timeout bounds the rest; so does the wait for
// a free connection. Every failure of the database answers 503 and never a 500; pgxpool
// destroys a connection that broke, so the next request connects again and recovery needs no
// probe: the first connection that succeeds serves.

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v4"
	"github.com/jackc/pgx/v4/pgxpool"
	"golang.org/x/sync/semaphore"
)

const (
	sqlPing           = "SELECT 1"
	sqlSelectWorld    = "SELECT id, randomnumber FROM world WHERE id = $1"
	sqlUpdateWorld    = "UPDATE world SET randomnumber = $1 WHERE id = $2"
	sqlSelectFortunes = "SELECT id, message FROM fortune"
	sqlSleep          = "SELECT pg_sleep($1)"
	sqlInsertItem     = "INSERT INTO items (name, price, quantity, tags) VALUES ($1, $2, $3, $4) " +
		"RETURNING id, name, price, quantity, tags"
	sqlSelectItem = "SELECT id, name, price, quantity, tags FROM items WHERE id = $1"
)

// A connection lives as long as the process, as asyncpg's and psycopg's do here: pgxpool
// would otherwise close one after an hour, or after 30 idle minutes.
const connectionLifetime = 100 * 365 * 24 * time.Hour

type database struct {
	pool *pgxpool.Pool
	// turns hands out the pool's connections first come, first served. pgxpool v4's pool
	// (puddle v1) wakes a waiter when a connection comes back, but a request arriving meanwhile
	// may take it first, and the waiter queues again at the back: at saturation some requests
	// wait many times the average. A FIFO semaphore of the pool's size in front keeps arrival
	// order, as asyncpg's, psycopg_pool's and pgx v5's pools do (/io/db?ms=50, 120 clients, wrk:
	// p99 730 ms without it, 220-280 ms with it, FastAPI on asyncpg 390 ms; the same 585 rps).
	turns          *semaphore.Weighted
	size           int
	connectTimeout time.Duration
	waiting        atomic.Int64
}

func openDatabase(cfg config) (*database, error) {
	poolConfig, err := pgxpool.ParseConfig(cfg.databaseURL)
	if err != nil {
		return nil, err
	}
	poolConfig.MaxConns = int32(cfg.dbPoolSize)
	poolConfig.MinConns = 0
	poolConfig.MaxConnLifetime = connectionLifetime
	poolConfig.MaxConnIdleTime = connectionLifetime
	// Start while Postgres is down: /readyz answers 503 until it is up.
	poolConfig.LazyConnect = true
	poolConfig.BeforeAcquire = func(_ context.Context, conn *pgx.Conn) bool { return alive(conn) }
	poolConfig.ConnConfig.ConnectTimeout = cfg.connectTimeout
	poolConfig.ConnConfig.RuntimeParams["statement_timeout"] = strconv.Itoa(cfg.statementTimeoutMS)
	pool, err := pgxpool.ConnectConfig(context.Background(), poolConfig)
	if err != nil {
		return nil, err
	}
	return &database{
		pool: pool, turns: semaphore.NewWeighted(int64(cfg.dbPoolSize)),
		size: cfg.dbPoolSize, connectTimeout: cfg.connectTimeout,
	}, nil
}

// warm opens every connection of the pool now, as the Python services do at startup, so that
// the pool is as fixed in size as theirs; with Postgres down it opens none, and says nothing.
func (d *database) warm() {
	conns := make(chan *pgxpool.Conn, d.size)
	for i := 0; i < d.size; i++ {
		go func() {
			conn, err := d.acquire()
			if err != nil {
				conn = nil
			}
			conns <- conn
		}()
	}
	for i := 0; i < d.size; i++ {
		if conn := <-conns; conn != nil {
			d.release(conn)
		}
	}
}

func (d *database) close() { d.pool.Close() }

// stats is (size, in use, waiting) for the db_pool_* gauges.
func (d *database) stats() (int32, int32, int64) {
	s := d.pool.Stat()
	return s.TotalConns(), s.AcquiredConns(), d.waiting.Load()
}

// acquire takes a connection, waiting at most the connect timeout (for its turn, and for a
// new connection to connect); release gives it back.
func (d *database) acquire() (*pgxpool.Conn, error) {
	d.waiting.Add(1)
	defer d.waiting.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), d.connectTimeout)
	defer cancel()
	if err := d.turns.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		d.turns.Release(1)
		return nil, err
	}
	return conn, nil
}

func (d *database) release(conn *pgxpool.Conn) {
	conn.Release()
	d.turns.Release(1)
}

// alive tells whether a pooled connection can be handed out: nothing to read on an idle one.
// The server's end of the story, once it closed the connection (a restart, an outage), is
// data (its FATAL message), an end of file or an error.
func alive(conn *pgx.Conn) bool {
	sc, ok := conn.PgConn().Conn().(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	healthy := false
	var probe [1]byte
	err = raw.Control(func(fd uintptr) {
		_, _, err := syscall.Recvfrom(int(fd), probe[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		healthy = errors.Is(err, syscall.EAGAIN)
	})
	return err == nil && healthy
}

// with runs f on a pooled connection; any failure of the database is the contract's 503.
// Queries run to their end whatever the client does meanwhile (a context that a departed
// client cancels would make pgx close the connection), as the Python services' do.
func (d *database) with(f func(conn *pgxpool.Conn) error) *apiError {
	conn, err := d.acquire()
	if err != nil {
		return databaseUnavailable()
	}
	defer d.release(conn)
	if err := f(conn); err != nil {
		var notFound *apiError
		if errors.As(err, &notFound) {
			return notFound
		}
		return databaseUnavailable()
	}
	return nil
}

var background = context.Background()

func (d *database) ping() *apiError {
	return d.with(func(conn *pgxpool.Conn) error {
		var one int32
		return conn.QueryRow(background, sqlPing).Scan(&one)
	})
}

func (d *database) world() (world, *apiError) {
	var w world
	err := d.with(func(conn *pgxpool.Conn) error {
		return conn.QueryRow(background, sqlSelectWorld, randomNumber()).Scan(&w.id, &w.randomNumber)
	})
	return w, err
}

// readWorlds reads n random rows one query at a time, as TechEmpower's test asks.
func readWorlds(conn *pgxpool.Conn, n int) ([]world, error) {
	worlds := make([]world, n)
	for i, id := range randomIDs(n) {
		if err := conn.QueryRow(background, sqlSelectWorld, id).Scan(&worlds[i].id, &worlds[i].randomNumber); err != nil {
			return nil, err
		}
	}
	return worlds, nil
}

func (d *database) worlds(n int) ([]world, *apiError) {
	var worlds []world
	err := d.with(func(conn *pgxpool.Conn) (err error) {
		worlds, err = readWorlds(conn, n)
		return err
	})
	return worlds, err
}

// updateWorlds reads and writes on one connection; the writes go as one batch, one implicit
// transaction, as asyncpg's executemany sends them.
func (d *database) updateWorlds(n int) ([]world, *apiError) {
	var worlds []world
	err := d.with(func(conn *pgxpool.Conn) (err error) {
		if worlds, err = readWorlds(conn, n); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		for i := range worlds {
			worlds[i].randomNumber = newRandomNumber(worlds[i].randomNumber)
			batch.Queue(sqlUpdateWorld, worlds[i].randomNumber, worlds[i].id)
		}
		return conn.SendBatch(background, batch).Close()
	})
	return worlds, err
}

func (d *database) fortunes() ([]fortune, *apiError) {
	var rows []fortune
	err := d.with(func(conn *pgxpool.Conn) error {
		result, err := conn.Query(background, sqlSelectFortunes)
		if err != nil {
			return err
		}
		defer result.Close()
		for result.Next() {
			var f fortune
			if err := result.Scan(&f.id, &f.message); err != nil {
				return err
			}
			rows = append(rows, f)
		}
		return result.Err()
	})
	return rows, err
}

func (d *database) sleep(ms int64) *apiError {
	return d.with(func(conn *pgxpool.Conn) error {
		_, err := conn.Exec(background, sqlSleep, float64(ms)/1000)
		return err
	})
}

type storedItem struct {
	id       int32
	name     string
	price    float64
	quantity int32
	tags     []string
}

func (it *storedItem) json() []byte {
	w := &jsonWriter{buf: make([]byte, 0, 96+len(it.name))}
	w.raw("{").key("id").int(int64(it.id)).key("name").str(it.name).key("price").float(it.price).
		key("quantity").int(int64(it.quantity)).key("tags").strList(it.tags)
	return w.raw("}").buf
}

func (d *database) insertItem(it item) (storedItem, *apiError) {
	var row storedItem
	err := d.with(func(conn *pgxpool.Conn) error {
		return conn.QueryRow(background, sqlInsertItem, it.name, it.price, it.quantity, it.tags).
			Scan(&row.id, &row.name, &row.price, &row.quantity, &row.tags)
	})
	return row, err
}

func (d *database) getItem(id int64) (storedItem, *apiError) {
	var row storedItem
	err := d.with(func(conn *pgxpool.Conn) error {
		err := conn.QueryRow(background, sqlSelectItem, id).
			Scan(&row.id, &row.name, &row.price, &row.quantity, &row.tags)
		if errors.Is(err, pgx.ErrNoRows) {
			return itemNotFound(id)
		}
		return err
	})
	return row, err
}
