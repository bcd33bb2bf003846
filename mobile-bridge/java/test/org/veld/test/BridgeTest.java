package org.veld.test;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.veld.Session;
import org.veld.SyncListener;
import org.veld.SyncProgress;
import org.veld.Veld;
import org.veld.VeldException;

/**
 * The Java binding end to end, as an app uses it: a real `veld serve` on
 * 127.0.0.1 (a child process), an office made with the `veld` command, two
 * device stores through org.veld.Session. A visit and a note holding a
 * 4-byte character are recorded on the first, synced, and read back on the
 * second byte for byte; a wrong passphrase is a VeldException with EAUTH.
 *
 * <p>Usage: BridgeTest PATH_TO_VELD. Exit 0 when every check passes.
 */
public final class BridgeTest {
    private static final byte[] PASS = "a long test passphrase".getBytes(StandardCharsets.UTF_8);
    private static final String OPTS =
        "{\"user\":\"%s\",\"team\":\"noord\",\"kdf_memory_mib\":19,\"kdf_passes\":2}";
    // U+1F600 is four bytes in UTF-8 (F0 9F 98 80) and two chars in Java:
    // JNI's modified UTF-8 would turn it into two 3-byte surrogates.
    private static final String NOTE = "\uD83D\uDE00 U+1F600 huur betaald, na\u00EFef \u20AC";
    private static final byte[] NOTE_UTF8 = {
        (byte) 0xF0, (byte) 0x9F, (byte) 0x98, (byte) 0x80, ' ', 'U', '+', '1', 'F', '6', '0',
        '0', ' ', 'h', 'u', 'u', 'r', ' ', 'b', 'e', 't', 'a', 'a', 'l', 'd', ',', ' ', 'n',
        'a', (byte) 0xC3, (byte) 0xAF, 'e', 'f', ' ', (byte) 0xE2, (byte) 0x82, (byte) 0xAC
    };
    private static final long WAIT_S = 60;

    private static String veld;
    private static Path tmp;
    private static int checks;

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: BridgeTest PATH_TO_VELD");
            System.exit(2);
        }
        veld = args[0];
        tmp = Files.createTempDirectory("veld-java-");
        Process server = null;
        int status = 1;
        try {
            versionsAndConstants();
            Path data = tmp.resolve("server");
            server = new ProcessBuilder(veld, "serve", "--listen", "127.0.0.1:0",
                    "--data", data.toString())
                .redirectError(tmp.resolve("server.log").toFile())
                .start();
            String url = serverUrl(server);
            String setup = new String(Files.readAllBytes(data.resolve("setup-code")),
                StandardCharsets.UTF_8).trim();
            String[] codes = office(url, setup);
            endToEnd(url, codes[0], codes[1]);
            System.out.println("ok: " + checks + " checks passed");
            status = 0;
        } catch (Throwable t) {
            System.out.println("FAIL: " + t);
            t.printStackTrace(System.out);
            Path log = tmp.resolve("server.log");
            if (Files.exists(log)) {
                System.out.println("server log:\n"
                    + new String(Files.readAllBytes(log), StandardCharsets.UTF_8));
            }
        } finally {
            if (server != null) {
                server.destroy(); // SIGTERM: a clean stop
                if (!server.waitFor(10, TimeUnit.SECONDS)) {
                    server.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            }
            deleteTree(tmp);
        }
        System.exit(status);
    }

    // ---- the checks ----

    private static void versionsAndConstants() throws VeldException {
        check(Veld.abiVersion() >> 16 == Veld.ABI_VERSION >> 16, "ABI major matches");
        int[] codes = {VeldException.ERROR, VeldException.ENOMEM, VeldException.EINVAL,
            VeldException.ENOTFOUND, VeldException.EAUTH, VeldException.ECORRUPT,
            VeldException.EIO, VeldException.EEXISTS, VeldException.ESCHEMA,
            VeldException.ELOCKED, VeldException.ESHREDDED, VeldException.EPERM,
            VeldException.EBUSY, VeldException.ENET, VeldException.EPROTO,
            VeldException.EREVOKED, VeldException.ECANCELLED};
        for (int c : codes) {
            String name = VeldException.codeName(c);
            check(Veld.constant(name) == c, name + " agrees with the native library");
        }
        check(Veld.constant("VELD_PHASE_PUSH") == SyncProgress.PHASE_PUSH, "push phase");
        check(Veld.constant("VELD_PHASE_PULL") == SyncProgress.PHASE_PULL, "pull phase");
        try {
            Veld.constant("VELD_NO_SUCH_THING");
            check(false, "an unknown constant throws");
        } catch (VeldException e) {
            check(e.getCode() == VeldException.ENOTFOUND, "unknown constant is ENOTFOUND");
        }
    }

    private static void endToEnd(String url, String codeA, String codeB) throws Exception {
        String dirA = tmp.resolve("anna").toString();
        String dirB = tmp.resolve("bram").toString();
        String clientId;
        String noteId;

        try (Session a = Session.create(dirA, PASS, String.format(OPTS, "anna"))) {
            Map<String, Object> who = MiniJson.object(a.enroll("{\"url\":" + MiniJson.quote(url)
                + ",\"code\":" + MiniJson.quote(codeA) + ",\"label\":\"anna-phone\"}"));
            check("worker".equals(who.get("role")) && "noord".equals(who.get("team")),
                "enrolled as a worker of noord: " + who);
            officeSync();

            clientId = id(a.recordCreate("{\"type\":\"client\",\"fields\":{\"name\":"
                + "\"Jan de Vries\",\"address\":\"Kerkstraat 1\"}}"));
            String visitId = id(a.recordCreate("{\"type\":\"visit\",\"fields\":{\"client\":\""
                + clientId + "\",\"kind\":\"home_visit\",\"started\":\"2026-11-20T10:00Z\","
                + "\"scores\":{\"financien\":2,\"huisvesting\":4}}}"));
            noteId = id(a.recordCreate("{\"type\":\"note\",\"fields\":{\"client\":\"" + clientId
                + "\",\"visit\":\"" + visitId + "\",\"text\":" + MiniJson.quote(NOTE) + "}}"));
            a.recordCreate("{\"type\":\"goal\",\"fields\":{\"client\":\"" + clientId
                + "\",\"domain\":\"financien\",\"description\":\"Schulden op orde\"}}");
            a.recordCreate("{\"type\":\"signal\",\"fields\":{\"client\":\"" + clientId
                + "\",\"kind\":\"rent_arrears\",\"severity\":\"high\"}}");

            // Notes are append-only: the code comes through.
            try {
                a.recordUpdate("{\"type\":\"note\",\"id\":\"" + noteId
                    + "\",\"fields\":{\"text\":\"x\"}}");
                check(false, "updating a note throws");
            } catch (VeldException e) {
                check(e.getCode() == VeldException.EPERM, "note update is EPERM: " + e);
            }

            final List<SyncProgress> seen = new ArrayList<>();
            Map<String, Object> sum = MiniJson.object(a.sync(null, new SyncListener() {
                @Override
                public boolean onProgress(SyncProgress p) {
                    seen.add(p);
                    return true;
                }
            }));
            check(((Long) sum.get("pushed")) > 0, "first sync pushed: " + sum);
            check(!seen.isEmpty() && seen.get(0).phase == SyncProgress.PHASE_PUSH,
                "progress reported, push first: " + seen);

            listenerCancelsAndThrows(a, clientId);
            locking(a);
        }

        try (Session b = Session.create(dirB, PASS, String.format(OPTS, "bram"))) {
            b.enroll("{\"url\":" + MiniJson.quote(url) + ",\"code\":" + MiniJson.quote(codeB)
                + "}");
            officeSync();
            Map<String, Object> sum = MiniJson.object(b.sync("{\"timeout_ms\":20000}", null));
            check(((Long) sum.get("applied")) > 0, "second device received the team's data");

            String note = b.recordGet("{\"type\":\"note\",\"id\":\"" + noteId + "\"}");
            String text = (String) MiniJson.object(note).get("text");
            check(NOTE.equals(text), "the note reads back as written: " + text);
            check(Arrays.equals(NOTE_UTF8, text.getBytes(StandardCharsets.UTF_8)),
                "the note's UTF-8 bytes are exactly the ones written");
            check(indexOf(note.getBytes(StandardCharsets.UTF_8), NOTE_UTF8) >= 0,
                "the result carries the raw 4-byte sequence, not escapes");

            List<Object> notes = MiniJson.array(b.recordList("{\"type\":\"note\",\"filter\":"
                + "{\"client\":\"" + clientId + "\"}}"));
            check(notes.size() == 2, "both notes arrived: " + notes.size());
            Map<String, Object> scores = MiniJson.object(b.scores("{\"client\":\""
                + clientId.substring(0, 8) + "\"}"));
            @SuppressWarnings("unchecked")
            Map<String, Object> latest = (Map<String, Object>) scores.get("latest");
            @SuppressWarnings("unchecked")
            Map<String, Object> fin = (Map<String, Object>) latest.get("financien");
            check(Long.valueOf(2).equals(fin.get("score")), "scores by domain: " + scores);
            Map<String, Object> progress = MiniJson.object(b.clientProgress("{\"client\":\""
                + clientId.substring(0, 8) + "\"}"));
            @SuppressWarnings("unchecked")
            List<Object> domains = (List<Object>) progress.get("domains");
            @SuppressWarnings("unchecked")
            Map<String, Object> first = (Map<String, Object>) domains.get(0);
            check(clientId.equals(progress.get("client")) && "financien".equals(first.get("code"))
                && Long.valueOf(0).equals(first.get("change")), "progress by domain: " + progress);
            // What is due: bram is no client's contact person; of every client, the
            // signal anna raised is open without a follow-up.
            Map<String, Object> dueOwn = MiniJson.object(b.due(null));
            check(Long.valueOf(0).equals(dueOwn.get("clients")), "bram's own clients: " + dueOwn);
            Map<String, Object> dueAll = MiniJson.object(b.due("{\"all\":true,\"days\":7}"));
            check(Long.valueOf(1).equals(dueAll.get("clients")) && Long.valueOf(7).equals(
                dueAll.get("days")) && dueAll.get("items").toString().contains(
                "signal_without_follow_up"), "what is due of every client: " + dueAll);
            check(MiniJson.array(b.conflictsList(null)).isEmpty(), "no conflicts");
            check(!MiniJson.array(b.auditList("{\"limit\":5}")).isEmpty(), "access log read");
            check(Boolean.TRUE.equals(MiniJson.object(b.auditVerify()).get("ok")),
                "access log intact");
        }

        // A wrong passphrase is a VeldException carrying EAUTH.
        byte[] wrong = "not the passphrase".getBytes(StandardCharsets.UTF_8);
        try {
            Session s = Session.open(dirA, wrong, null);
            s.close();
            check(false, "opening with a wrong passphrase throws");
        } catch (VeldException e) {
            check(e.getCode() == VeldException.EAUTH, "wrong passphrase is EAUTH: " + e);
            check(e.getCode() == Veld.constant("VELD_EAUTH"), "EAUTH as the C header says");
        }
        try (Session s = Session.open(dirA, PASS, null)) {
            check(MiniJson.object(s.info()).get("device") != null, "right passphrase opens");
        }
    }

    private static void listenerCancelsAndThrows(Session a, String clientId) throws Exception {
        a.recordCreate("{\"type\":\"note\",\"fields\":{\"client\":\"" + clientId
            + "\",\"text\":\"tweede\"}}");
        try {
            a.sync(null, new SyncListener() {
                @Override
                public boolean onProgress(SyncProgress p) {
                    return false;
                }
            });
            check(false, "a listener returning false cancels");
        } catch (VeldException e) {
            check(e.getCode() == VeldException.ECANCELLED, "cancelled: " + e);
        }
        final RuntimeException boom = new IllegalStateException("listener failed");
        try {
            a.sync(null, new SyncListener() {
                @Override
                public boolean onProgress(SyncProgress p) {
                    throw boom;
                }
            });
            check(false, "a throwing listener stops the sync");
        } catch (IllegalStateException e) {
            check(e == boom, "the listener's exception comes back as it was");
        }
        // cancel() from another thread is harmless when nothing runs.
        Thread t = new Thread(a::cancel);
        t.start();
        t.join();
        a.sync(null, null);
    }

    private static void locking(Session a) throws Exception {
        a.lock();
        check(a.isLocked(), "locked");
        check(a.info().contains("\"locked\":true"), "info answers while locked");
        try {
            a.conflictsList(null);
            check(false, "a locked session refuses");
        } catch (VeldException e) {
            check(e.getCode() == VeldException.ELOCKED, "ELOCKED: " + e);
        }
        try {
            a.unlock("wrong passphrase".getBytes(StandardCharsets.UTF_8));
            check(false, "unlock with a wrong passphrase throws");
        } catch (VeldException e) {
            check(e.getCode() == VeldException.EAUTH, "unlock EAUTH");
        }
        a.unlock(PASS);
        check(!a.isLocked(), "unlocked");
        a.setAutoLock(1);
        Thread.sleep(1200);
        check(a.isLocked(), "auto-locked after 1 s without use");
        a.unlock(PASS);
        a.setAutoLock(0);
        // A session from several threads at once.
        final AtomicInteger failures = new AtomicInteger();
        Thread[] ts = new Thread[4];
        for (int i = 0; i < ts.length; i++) {
            ts[i] = new Thread(() -> {
                try {
                    for (int k = 0; k < 10; k++) {
                        a.info();
                        a.recordList("{\"type\":\"client\"}");
                    }
                } catch (VeldException e) {
                    failures.incrementAndGet();
                }
            });
            ts[i].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        check(failures.get() == 0, "four threads on one session");
        a.close();
        a.close(); // twice is fine
        try {
            a.info();
            check(false, "a closed session refuses");
        } catch (IllegalStateException e) {
            checks++;
        }
    }

    // ---- the office, with the veld command ----

    /** Returns two single-use invite codes for team noord. */
    private static String officeStore;

    // The office certifies a new device at its next sync: only then do the
    // team's other devices take in what it writes.
    private static void officeSync() throws Exception {
        cli(officeStore, "office", "sync");
    }

    private static String[] office(String url, String setupCode) throws Exception {
        String store = tmp.resolve("office").toString();
        officeStore = store;
        cli(store, "office", "init", "--kdf-memory", "19", "--kdf-passes", "2");
        cli(store, "office", "enroll", url, setupCode);
        String[] codes = new String[2];
        for (int i = 0; i < 2; i++) {
            Map<String, Object> inv = MiniJson.object(
                cli(store, "office", "invite", "--team", "noord", "--json"));
            codes[i] = (String) inv.get("code");
        }
        return codes;
    }

    private static String cli(String store, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(veld);
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("VELD_STORE", store);
        pb.environment().put("VELD_PASSPHRASE", new String(PASS, StandardCharsets.UTF_8));
        File err = tmp.resolve("cli.err").toFile();
        pb.redirectError(err);
        Process p = pb.start();
        p.getOutputStream().close();
        byte[] out = readAll(p);
        if (!p.waitFor(WAIT_S, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("veld " + String.join(" ", args) + " did not finish");
        }
        if (p.exitValue() != 0) {
            throw new AssertionError("veld " + args[0] + " " + args[1] + " exited "
                + p.exitValue() + ": "
                + new String(Files.readAllBytes(err.toPath()), StandardCharsets.UTF_8));
        }
        return new String(out, StandardCharsets.UTF_8);
    }

    private static byte[] readAll(Process p) throws IOException {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        int n;
        while ((n = p.getInputStream().read(buf)) > 0) {
            b.write(buf, 0, n);
        }
        return b.toByteArray();
    }

    /** The URL the server prints once it listens (bounded wait). */
    private static String serverUrl(Process server) throws Exception {
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(
                    server.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    lines.add(line);
                }
            } catch (IOException e) {
                // the server went away; the wait below times out
            }
        });
        reader.setDaemon(true);
        reader.start();
        Pattern p = Pattern.compile("listening on (http://127\\.0\\.0\\.1:\\d+)");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            String line = lines.poll(200, TimeUnit.MILLISECONDS);
            if (line != null) {
                Matcher m = p.matcher(line);
                if (m.find()) {
                    return m.group(1);
                }
            }
            if (!server.isAlive()) {
                throw new AssertionError("veld serve exited " + server.exitValue());
            }
        }
        throw new AssertionError("veld serve did not say where it listens within 20 s");
    }

    // ---- helpers ----

    private static String id(String recordJson) {
        return (String) MiniJson.object(recordJson).get("id");
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int k = 0; k < needle.length; k++) {
                if (hay[i + k] != needle[k]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
        checks++;
    }

    private static void deleteTree(Path root) throws IOException {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try (java.util.stream.Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
