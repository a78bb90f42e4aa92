// The fair Spark baseline: the same synchronous minibatch SGD as sgd.py, as a JVM job (no
// Python anywhere), with the data cached as JVM arrays, the way the ASYNC paper's Scala code
// holds it. Least squares, f(w) = 1/(2n) |Xw - y|^2, on bio_kdd04; 8 partitions, each samples
// `batch` rows per update and returns its gradient sum; the driver averages them and steps
// w -= g / L (our engine's SGD step), broadcasting w anew every update.
//
// Compiled by run.sh with javac against the jars of the pip pyspark wheel, run with its
// spark-submit:
//   spark-submit --master local[2] --class SgdJvm sgd-jvm.jar --data PATH.xz --out jvm.json
// Options: --partitions 8 --batch 256 --seed 7 --target 1e-2 --eval-every 0.05
//          --time-limit 300 --warmup 300

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.locks.LockSupport;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;

public final class SgdJvm {
    /** Least-squares optimum of bio_kdd04 (../shared/data/README.md). */
    static final double F_STAR = 0.01890429339;
    /** 74 z-scored features and the constant feature 75 (1-based indices 1..75). */
    static final int DIM = 75;
    /**
     * Our engine's slow-workers stragglers for 8 workers and seed 7 (as in sgd.py): partitions
     * 2 and 3 sleep this many times the compute they just measured.
     */
    static final Map<Integer, Double> SLOW_WORKERS = Map.of(2, 1.5895819094122923, 3, 3.0301833218453322);

    /** One partition's rows, held as plain JVM arrays (row-major X). */
    static final class Block implements Serializable {
        private static final long serialVersionUID = 1L;
        final int pid;
        final int rows;
        final double[] x;
        final double[] y;

        Block(int pid, double[] x, double[] y) {
            this.pid = pid;
            this.rows = y.length;
            this.x = x;
            this.y = y;
        }
    }

    static final class Data implements Serializable {
        private static final long serialVersionUID = 1L;
        final double[] x;
        final double[] y;

        Data(double[] x, double[] y) {
            this.x = x;
            this.y = y;
        }

        int rows() {
            return y.length;
        }
    }

    /** Reads an xz LIBSVM file (through `xz -dc`) into a dense row-major matrix. */
    static Data load(String path) throws IOException, InterruptedException {
        Process xz = new ProcessBuilder("xz", "-dc", path).redirectErrorStream(false).start();
        double[] x = new double[1 << 20];
        double[] y = new double[1 << 14];
        int n = 0;
        try (BufferedReader in = new BufferedReader(
                new InputStreamReader(xz.getInputStream(), StandardCharsets.US_ASCII), 1 << 20)) {
            String line;
            while ((line = in.readLine()) != null) {
                // One space between tokens (split's fast path, no regex); blanks are skipped.
                String[] tokens = line.trim().split(" ");
                if (tokens[0].isEmpty()) {
                    continue;
                }
                if (n == y.length) {
                    y = Arrays.copyOf(y, y.length * 2);
                }
                if ((n + 1) * DIM > x.length) {
                    x = Arrays.copyOf(x, x.length * 2);
                }
                y[n] = Double.parseDouble(tokens[0]); // reads "+1"
                for (int t = 1; t < tokens.length; t++) {
                    if (tokens[t].isEmpty()) {
                        continue;
                    }
                    int colon = tokens[t].indexOf(':');
                    if (colon < 1) {
                        throw new IOException("line " + (n + 1) + ": `" + tokens[t] + "` is not index:value");
                    }
                    int index = Integer.parseInt(tokens[t], 0, colon, 10) - 1;
                    if (index < 0 || index >= DIM) {
                        throw new IOException("feature index " + (index + 1) + " outside 1.." + DIM);
                    }
                    x[n * DIM + index] = Double.parseDouble(tokens[t].substring(colon + 1));
                }
                n++;
            }
        }
        if (xz.waitFor() != 0) {
            throw new IOException("xz -dc " + path + " failed");
        }
        return new Data(Arrays.copyOf(x, n * DIM), Arrays.copyOf(y, n));
    }

    static double objective(Data d, double[] w) {
        double sum = 0;
        for (int i = 0; i < d.rows(); i++) {
            double r = -d.y[i];
            for (int j = 0; j < DIM; j++) {
                r += d.x[i * DIM + j] * w[j];
            }
            sum += r * r;
        }
        return 0.5 * sum / d.rows();
    }

    /** The largest eigenvalue of X^T X / n, by power iteration on the 75 x 75 matrix. */
    static double largestEigenvalue(Data d) {
        double[][] h = new double[DIM][DIM];
        for (int i = 0; i < d.rows(); i++) {
            for (int a = 0; a < DIM; a++) {
                double xa = d.x[i * DIM + a];
                if (xa == 0) {
                    continue;
                }
                for (int b = 0; b < DIM; b++) {
                    h[a][b] += xa * d.x[i * DIM + b];
                }
            }
        }
        double[] v = new double[DIM];
        Arrays.fill(v, 1.0);
        double lambda = 0;
        for (int it = 0; it < 20000; it++) {
            double[] hv = new double[DIM];
            for (int a = 0; a < DIM; a++) {
                for (int b = 0; b < DIM; b++) {
                    hv[a] += h[a][b] * v[b];
                }
            }
            double norm = 0;
            for (double e : hv) {
                norm += e * e;
            }
            norm = Math.sqrt(norm);
            for (int a = 0; a < DIM; a++) {
                v[a] = hv[a] / norm;
            }
            if (Math.abs(norm - lambda) <= 1e-15 * norm) {
                lambda = norm;
                break;
            }
            lambda = norm;
        }
        return lambda / d.rows();
    }

    /** `count` distinct row indices of `rows`, seeded by (seed, pid, k): Floyd's sampling. */
    static int[] sample(int rows, int count, long seed, int pid, long k) {
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ ((long) pid << 40) ^ k);
        count = Math.min(count, rows);
        Set<Integer> chosen = new HashSet<>(count * 2);
        int[] out = new int[count];
        int m = 0;
        for (int j = rows - count; j < rows; j++) {
            int t = rng.nextInt(j + 1);
            int pick = chosen.add(t) ? t : j;
            if (pick == j) {
                chosen.add(j);
            }
            out[m++] = pick;
        }
        return out;
    }

    /**
     * The task of update k on one block: the gradient sum of a seeded minibatch, its row count
     * and the seconds it computed, in one array of DIM + 2. A straggling partition then sleeps
     * its factor times that compute, as our engine's slow workers do.
     */
    static double[] gradient(Block b, double[] w, int batch, long seed, long k, double delay) {
        long begun = System.nanoTime();
        int[] rows = sample(b.rows, batch, seed, b.pid, k);
        double[] g = new double[DIM + 2];
        for (int i : rows) {
            int base = i * DIM;
            double r = -b.y[i];
            for (int j = 0; j < DIM; j++) {
                r += b.x[base + j] * w[j];
            }
            for (int j = 0; j < DIM; j++) {
                g[j] += r * b.x[base + j];
            }
        }
        double compute = (System.nanoTime() - begun) * 1e-9;
        g[DIM] = rows.length;
        g[DIM + 1] = compute;
        if (delay > 0) {
            LockSupport.parkNanos((long) (delay * compute * 1e9));
        }
        return g;
    }

    static double[] add(double[] a, double[] b) {
        double[] s = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            s[i] = a[i] + b[i];
        }
        return s;
    }

    static final class Options {
        String data;
        String out = "jvm.json";
        int partitions = 8;
        int batch = 256;
        long seed = 7;
        double target = 1e-2;
        double evalEvery = 0.05;
        double timeLimit = 300;
        int warmup = 300;

        static Options parse(String[] args) {
            Options o = new Options();
            for (int i = 0; i < args.length; i += 2) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(args[i] + " needs a value");
                }
                String v = args[i + 1];
                switch (args[i]) {
                    case "--data" -> o.data = v;
                    case "--out" -> o.out = v;
                    case "--partitions" -> o.partitions = Integer.parseInt(v);
                    case "--batch" -> o.batch = Integer.parseInt(v);
                    case "--seed" -> o.seed = Long.parseLong(v);
                    case "--target" -> o.target = Double.parseDouble(v);
                    case "--eval-every" -> o.evalEvery = Double.parseDouble(v);
                    case "--time-limit" -> o.timeLimit = Double.parseDouble(v);
                    case "--warmup" -> o.warmup = Integer.parseInt(v);
                    default -> throw new IllegalArgumentException("unknown option " + args[i]);
                }
            }
            if (o.data == null) {
                throw new IllegalArgumentException("--data PATH.xz is required");
            }
            return o;
        }
    }

    /** One training run: its figures as JSON members. */
    static Map<String, Object> train(JavaSparkContext sc, JavaRDD<Block> data, Data d, double step,
            Options o, double timeLimit, Map<Integer, Double> delays) {
        double[] w = new double[DIM];
        List<double[]> trace = new ArrayList<>();
        trace.add(new double[] {0, 0, (objective(d, w) - F_STAR) / F_STAR});
        double trained = 0, nextEval = o.evalEvery, computeS = 0;
        Double reached = null;
        long k = 0;
        final int batch = o.batch;
        final long seed = o.seed;
        while (trained < timeLimit) {
            long begun = System.nanoTime();
            Broadcast<double[]> bw = sc.broadcast(w);
            final long update = k;
            double[] sum = data.map(b -> {
                double delay = delays.getOrDefault(b.pid, 0.0);
                return gradient(b, bw.value(), batch, seed, update, delay);
            }).reduce(SgdJvm::add);
            double[] next = new double[DIM];
            for (int j = 0; j < DIM; j++) {
                next[j] = w[j] - step * sum[j] / sum[DIM];
            }
            w = next;
            bw.unpersist(); // the old version is never read again
            trained += (System.nanoTime() - begun) * 1e-9;
            computeS += sum[DIM + 1];
            k++;
            if (trained >= nextEval) { // evaluated on the driver, off the clock
                double subopt = (objective(d, w) - F_STAR) / F_STAR;
                trace.add(new double[] {trained, k, subopt});
                nextEval = trained + o.evalEvery;
                if (subopt <= o.target) {
                    reached = trained;
                    break;
                }
            }
        }
        Map<String, Object> run = new TreeMap<>();
        run.put("time_to_target_s", reached);
        run.put("updates", k);
        run.put("training_s", trained);
        run.put("s_per_update", trained / Math.max(1, k));
        run.put("task_compute_s_per_update", computeS / Math.max(1, k));
        run.put("final_subopt", trace.get(trace.size() - 1)[2]);
        Map<String, Object> factors = new TreeMap<>();
        delays.forEach((p, f) -> factors.put(String.valueOf(p), f));
        run.put("partition_delay_factors", factors);
        // About 50 of the evaluation points show the curve.
        List<Object> points = new ArrayList<>();
        int every = Math.max(1, trace.size() / 50);
        for (int i = 0; i < trace.size(); i += every) {
            if (i != trace.size() - 1) {
                points.add(point(trace.get(i)));
            }
        }
        points.add(point(trace.get(trace.size() - 1)));
        run.put("trace", points);
        return run;
    }

    static Map<String, Object> point(double[] p) {
        Map<String, Object> m = new TreeMap<>();
        m.put("elapsed_s", p[0]);
        m.put("updates", (long) p[1]);
        m.put("subopt", p[2]);
        return m;
    }

    /** The median seconds of `rounds` runs of `job`. */
    static double timedRounds(Runnable job, int rounds) {
        double[] times = new double[rounds];
        for (int i = 0; i < rounds; i++) {
            long begun = System.nanoTime();
            job.run();
            times[i] = (System.nanoTime() - begun) * 1e-9;
        }
        Arrays.sort(times);
        return times[rounds / 2];
    }

    public static void main(String[] args) throws Exception {
        Options o = Options.parse(args);
        long t0 = System.nanoTime();
        Data d = load(o.data);
        System.out.printf(Locale.ROOT, "loaded %d x %d in %.1f s%n", d.rows(), DIM, (System.nanoTime() - t0) * 1e-9);
        double lipschitz = largestEigenvalue(d);
        double step = 1.0 / lipschitz;

        SparkConf conf = new SparkConf()
                .setAppName("async-bench-spark-sgd-jvm")
                .set("spark.ui.enabled", "false")
                .set("spark.ui.showConsoleProgress", "false");
        JavaSparkContext sc = new JavaSparkContext(conf);
        sc.setLogLevel("ERROR");
        // Contiguous blocks, one per partition, cached as JVM objects (MEMORY_ONLY,
        // deserialized): a task reads its arrays in place. The blocks are cut on the executors
        // from a broadcast of the whole set: a parallelized collection would carry its data in
        // every task it serializes (11 MB per partition per update).
        int n = d.rows();
        int parts = o.partitions;
        Broadcast<Data> whole = sc.broadcast(d);
        JavaRDD<Block> data = sc.parallelize(rangeList(parts), parts).map(p -> {
            Data all = whole.value();
            int from = (int) ((long) all.rows() * p / parts);
            int to = (int) ((long) all.rows() * (p + 1) / parts);
            return new Block(p, Arrays.copyOfRange(all.x, from * DIM, to * DIM), Arrays.copyOfRange(all.y, from, to));
        }).cache();
        long cached = data.map(b -> (long) b.rows).reduce(Long::sum);
        if (cached != n) {
            throw new IllegalStateException("cached " + cached + " rows of " + n);
        }

        // Spark's own cost per stage of `partitions` tasks, after a JIT warm-up: tasks that
        // only read their cached block, and tasks with no data.
        JavaRDD<Integer> empty = sc.parallelize(rangeList(o.partitions), o.partitions);
        timedRounds(() -> empty.map(i -> 0).collect(), o.warmup);
        Map<String, Object> noop = new TreeMap<>();
        noop.put("read_cached_blocks", timedRounds(() -> data.map(b -> b.rows).collect(), 50));
        noop.put("no_data", timedRounds(() -> empty.map(i -> 0).collect(), 50));
        System.out.printf(Locale.ROOT, "no-op stage: read cached blocks %.2f ms, no data %.2f ms%n",
                (double) noop.get("read_cached_blocks") * 1e3, (double) noop.get("no_data") * 1e3);
        // Half a second of discarded updates warms the broadcast and gradient paths.
        train(sc, data, d, step, o, 0.5, Map.of());

        Map<String, Object> runs = new TreeMap<>();
        Map<String, Object> times = new TreeMap<>();
        Map<String, Object> updates = new TreeMap<>();
        Map<String, Object> perUpdate = new TreeMap<>();
        for (String name : List.of("none", "paper")) {
            Map<Integer, Double> delays = name.equals("none") ? Map.of() : SLOW_WORKERS;
            Map<String, Object> run = train(sc, data, d, step, o, o.timeLimit, delays);
            runs.put(name, run);
            times.put(name, run.get("time_to_target_s"));
            updates.put(name, run.get("updates"));
            perUpdate.put(name, run.get("s_per_update"));
            System.out.printf(Locale.ROOT, "stragglers %s: time to %g = %s s, %d updates, %.2f ms/update%n",
                    name, o.target, run.get("time_to_target_s"), (long) run.get("updates"),
                    (double) run.get("s_per_update") * 1e3);
        }
        String master = sc.getConf().get("spark.master");
        String version = sc.version();
        sc.stop();

        Map<String, Object> figures = new TreeMap<>();
        figures.put("engine", "Apache Spark " + version + " (Java RDD API, JVM only)");
        figures.put("java", System.getProperty("java.version"));
        figures.put("master", master);
        figures.put("warmup_noop_stages", o.warmup);
        figures.put("dataset", o.data.substring(o.data.lastIndexOf('/') + 1));
        figures.put("rows", n);
        figures.put("features", DIM);
        figures.put("optimum", F_STAR);
        figures.put("algo", "sgd (synchronous minibatch, map + reduce over cached JVM arrays, broadcast per update)");
        figures.put("partitions", o.partitions);
        figures.put("batch_per_partition", o.batch);
        figures.put("step", step);
        figures.put("L", lipschitz);
        figures.put("seed", o.seed);
        figures.put("target_subopt", o.target);
        figures.put("eval_every_s", o.evalEvery);
        figures.put("time_limit_s", o.timeLimit);
        figures.put("noop_stage_s", noop);
        figures.put("time_to_target_s", times);
        figures.put("updates", updates);
        figures.put("s_per_update", perUpdate);
        figures.put("runs", runs);
        try (PrintWriter out = new PrintWriter(o.out, StandardCharsets.UTF_8)) {
            out.println(json(figures, ""));
        }
        System.out.println("figures written to " + o.out);
    }

    static List<Integer> rangeList(int n) {
        List<Integer> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            list.add(i);
        }
        return Collections.unmodifiableList(list);
    }

    /** A small JSON writer for maps, lists, strings, numbers and null. */
    @SuppressWarnings("unchecked")
    static String json(Object v, String indent) {
        if (v == null) {
            return "null";
        }
        if (v instanceof String s) {
            return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
        }
        if (v instanceof Double x) {
            return Double.isFinite(x) ? Double.toString(x) : "null";
        }
        if (v instanceof Number) {
            return v.toString();
        }
        String inner = indent + "  ";
        if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                return "{}";
            }
            StringBuilder b = new StringBuilder("{\n");
            Iterator<? extends Map.Entry<?, ?>> it = m.entrySet().iterator();
            while (it.hasNext()) {
                Map.Entry<?, ?> e = it.next();
                b.append(inner).append(json(e.getKey().toString(), inner)).append(": ").append(json(e.getValue(), inner));
                b.append(it.hasNext() ? ",\n" : "\n");
            }
            return b.append(indent).append("}").toString();
        }
        if (v instanceof List<?> l) {
            StringBuilder b = new StringBuilder("[\n");
            for (int i = 0; i < l.size(); i++) {
                b.append(inner).append(json(l.get(i), inner)).append(i + 1 < l.size() ? ",\n" : "\n");
            }
            return b.append(indent).append("]").toString();
        }
        throw new IllegalArgumentException("cannot write " + v.getClass() + " as JSON");
    }
}
