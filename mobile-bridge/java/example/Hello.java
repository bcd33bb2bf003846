import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;

import org.veld.Session;
import org.veld.VeldException;

/**
 * The smallest app on veld: open (or create) a store, record a client, a
 * visit with ZRM scores and a note, list the notes, and sync when a server
 * URL and an invite code are given. The walkthrough in docs/mobile.md runs it.
 *
 *   java -Djava.library.path=build/mobile-bridge \
 *        -cp build/mobile-bridge/veld.jar:build/mobile-bridge/veld-example.jar \
 *        Hello STORE_DIR [SERVER_URL INVITE_CODE]
 *
 * The passphrase comes from VELD_PASSPHRASE (an app asks the user, or uses
 * Session.openWithKey with a key from the Android Keystore).
 */
public final class Hello {
    public static void main(String[] args) throws Exception {
        if (args.length != 1 && args.length != 3) {
            System.err.println("usage: Hello STORE_DIR [SERVER_URL INVITE_CODE]");
            System.exit(2);
        }
        String dir = args[0];
        String env = System.getenv("VELD_PASSPHRASE");
        byte[] pass = (env != null ? env : "demo passphrase").getBytes(StandardCharsets.UTF_8);
        // Cheapest key derivation the store allows: fine for a try-out, not for a phone.
        String options = "{\"user\":\"anna\",\"team\":\"noord\","
            + "\"kdf_memory_mib\":19,\"kdf_passes\":2}";

        boolean exists = Files.exists(Paths.get(dir, "veld.db"));
        try (Session s = exists ? Session.open(dir, pass, options)
                                : Session.create(dir, pass, options)) {
            if (args.length == 3 && !exists) {
                System.out.println("enrolled: " + s.enroll("{\"url\":\"" + args[1]
                    + "\",\"code\":\"" + args[2] + "\",\"label\":\"hello\"}"));
            }
            String client = s.recordCreate("{\"type\":\"client\",\"fields\":"
                + "{\"name\":\"Jan de Vries\",\"address\":\"Kerkstraat 1\"}}");
            String clientId = client.replaceAll(".*\"id\":\"([0-9a-f]+)\".*", "$1");
            s.recordCreate("{\"type\":\"visit\",\"fields\":{\"client\":\"" + clientId
                + "\",\"kind\":\"home_visit\",\"scores\":{\"financien\":3}}}");
            s.recordCreate("{\"type\":\"note\",\"fields\":{\"client\":\"" + clientId
                + "\",\"text\":\"Huur betaald \uD83D\uDE00\"}}");
            System.out.println("notes: " + s.recordList("{\"type\":\"note\",\"filter\":"
                + "{\"client\":\"" + clientId + "\"}}"));
            System.out.println("scores: " + s.scores("{\"client\":\"" + clientId + "\"}"));
            if (args.length == 3) {
                System.out.println("synced: " + s.sync(null, p -> {
                    System.out.println("  " + p);
                    return true; // false would cancel
                }));
            }
        } catch (VeldException e) {
            // getCode() is stable: VeldException.EAUTH is a wrong passphrase.
            System.err.println(e.getCode() == VeldException.EAUTH
                ? "wrong passphrase" : "veld failed: " + e.getMessage());
            System.exit(1);
        }
    }
}
