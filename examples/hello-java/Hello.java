// vmtest-hello-java: vmtest's example Java package. It greets, naming the JVM's
// architecture, prints its version, computes the CRC-32 of its standard input, and
// (--work) counts primes with several threads, long enough for HotSpot's JIT to
// compile and patch code while other threads run it: what JVMs under emulation trip on.
//
//   vmtest-hello-java                      Hello from vmtest-hello-java on arm!
//   vmtest-hello-java --version            vmtest-hello-java 1.0
//   printf 123456789 | vmtest-hello-java --crc32   cbf43926
//   vmtest-hello-java --work [LIMIT [THREADS]]     primes below 200000: 17984
//
// Exit status: 0 on success, 1 when --work's threads disagree, 2 for a usage error.

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;

public final class Hello {
    static final String NAME = "vmtest-hello-java";
    static final String VERSION = "1.0";

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            System.out.println("Hello from " + NAME + " on " + System.getProperty("os.arch") + "!");
            return;
        }
        switch (args[0]) {
            case "--version":
                System.out.println(NAME + " " + VERSION);
                return;
            case "--crc32":
                System.out.printf("%08x%n", crc32(System.in));
                return;
            case "--work":
                int limit = args.length > 1 ? Integer.parseInt(args[1]) : 200_000;
                int threads = args.length > 2 ? Integer.parseInt(args[2]) : 4;
                System.exit(work(limit, threads) ? 0 : 1);
                return;
            default:
                System.err.println(NAME + ": unknown option '" + args[0] + "'");
                System.err.println("usage: " + NAME + " [--version | --crc32 | --work [LIMIT [THREADS]]]");
                System.exit(2);
        }
    }

    static long crc32(InputStream in) throws IOException {
        CRC32 crc = new CRC32();
        byte[] buffer = new byte[8192];
        for (int n; (n = in.read(buffer)) > 0; ) {
            crc.update(buffer, 0, n);
        }
        return crc.getValue();
    }

    static boolean isPrime(int n) {
        if (n < 2) return false;
        if (n % 2 == 0) return n == 2;
        for (int d = 3; d * d <= n; d += 2) {
            if (n % d == 0) return false;
        }
        return true;
    }

    /// Threads take chunks of [0, limit) from a shared counter, count the primes in
    /// each, and add them up in three ways (an atomic, a map of per-chunk counts, each
    /// thread's own total); all three must agree. Boxing and the map allocate, so the
    /// collector runs too while the JIT compiles isPrime and the loops.
    static boolean work(int limit, int threadCount) throws InterruptedException {
        final int chunk = 1000;
        AtomicInteger next = new AtomicInteger();
        AtomicLong total = new AtomicLong();
        ConcurrentHashMap<Integer, Integer> perChunk = new ConcurrentHashMap<>();
        long[] perThread = new long[threadCount];
        List<Thread> threads = new ArrayList<>();
        long start = System.nanoTime();
        for (int t = 0; t < threadCount; t++) {
            final int index = t;
            Thread thread = new Thread(() -> {
                int from;
                while ((from = next.getAndAdd(chunk)) < limit) {
                    int to = Math.min(from + chunk, limit);
                    int count = 0;
                    for (int n = from; n < to; n++) {
                        if (isPrime(n)) count++;
                    }
                    total.addAndGet(count);
                    perChunk.put(from / chunk, count);
                    perThread[index] += count;
                }
            }, "worker-" + t);
            threads.add(thread);
            thread.start();
        }
        for (Thread thread : threads) thread.join();
        long millis = (System.nanoTime() - start) / 1_000_000;
        long fromMap = perChunk.values().stream().mapToLong(Integer::longValue).sum();
        long fromThreads = 0;
        for (long n : perThread) fromThreads += n;
        System.out.println("primes below " + limit + ": " + total.get());
        System.err.println(NAME + ": " + threadCount + " threads, " + Runtime.getRuntime().availableProcessors()
                + " CPUs, " + millis + " ms");
        if (fromMap != total.get() || fromThreads != total.get()) {
            System.err.println(NAME + ": threads disagree: atomic " + total.get() + ", map " + fromMap
                    + ", per thread " + fromThreads);
            return false;
        }
        return true;
    }
}
