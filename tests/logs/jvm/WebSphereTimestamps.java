import java.text.DateFormat;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Calendar;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.TimeZone;

/*
 * Writes the cases of timestamp_cases.tsv (read by tests/logs/test_timestamps.py):
 *
 *     javac WebSphereTimestamps.java
 *     (java -Djava.locale.providers=COMPAT WebSphereTimestamps;
 *      java -Djava.locale.providers=CLDR WebSphereTimestamps) > timestamp_cases.tsv
 *
 * For each locale: the pattern WebSphere's basic formatter derives from the JVM's SHORT date +
 * MEDIUM time pattern (DateFormatHelper: ":SSS z" after the seconds, every hour letter made H,
 * the am/pm marker blanked, trimmed), and the 12-hour form that keeps the marker where the
 * locale has one; each formatted at known instants in the locale's usual zone. COMPAT is the
 * JRE's own data (Java 8, IBM Java on WebSphere); CLDR is the default of Java 9 and later.
 * Columns: locale, provider, pattern, text, epoch milliseconds.
 */
public class WebSphereTimestamps {
    static String websphere(String pattern) {
        int end = pattern.lastIndexOf('s') + 1;
        String p = pattern.substring(0, end) + ":SSS z" + pattern.substring(end);
        p = p.replace('h', 'H').replace('K', 'H').replace('k', 'H').replace('a', ' ');
        return p.replace('\u202f', ' ').trim();
    }

    static String twelveHour(String pattern) {
        int end = pattern.lastIndexOf('s') + 1;
        return (pattern.substring(0, end) + ":SSS z" + pattern.substring(end)).replace('\u202f', ' ');
    }

    public static void main(String[] args) {
        String provider = System.getProperty("java.locale.providers");
        String[][] locales = {
            {"en-US", "America/New_York"}, {"en-GB", "Europe/London"}, {"de-DE", "Europe/Berlin"},
            {"fr-FR", "Europe/Paris"}, {"es-ES", "Europe/Madrid"}, {"it-IT", "Europe/Rome"},
            {"pt-BR", "America/Sao_Paulo"}, {"nl-NL", "Europe/Amsterdam"}, {"pl-PL", "Europe/Warsaw"},
            {"sv-SE", "Europe/Stockholm"}, {"ru-RU", "Europe/Moscow"}, {"ko-KR", "Asia/Seoul"},
            {"zh-TW", "Asia/Taipei"}, {"zh-CN", "Asia/Shanghai"}, {"ja-JP", "Asia/Tokyo"},
        };
        for (String[] entry : locales) {
            Locale locale = Locale.forLanguageTag(entry[0]);
            TimeZone zone = TimeZone.getTimeZone(entry[1]);
            DateFormat java = DateFormat.getDateTimeInstance(DateFormat.SHORT, DateFormat.MEDIUM, locale);
            String raw = ((SimpleDateFormat) java).toPattern();
            // 2018-04-16 10:23:45.123Z, 2018-01-12 07:00:05.009Z, 2018-12-19 11:03:19.056Z,
            // 2018-11-05 03:04:05.006Z, then a quarter past local midnight and noon on 1 June.
            List<Long> instants =
                new ArrayList<>(List.of(1523874225123L, 1515740405009L, 1545217399056L, 1541387045006L));
            for (int hour : new int[] {0, 12}) {
                Calendar local = Calendar.getInstance(zone);
                local.clear();
                local.set(2018, Calendar.JUNE, 1, hour, 15, 0);
                instants.add(local.getTimeInMillis());
            }
            List<String> patterns = new ArrayList<>(List.of(websphere(raw)));
            if (!twelveHour(raw).equals(websphere(raw))) patterns.add(twelveHour(raw));  // a marker
            for (String pattern : patterns) {
                SimpleDateFormat format = new SimpleDateFormat(pattern, locale);
                format.setTimeZone(zone);
                for (long instant : instants) {
                    String text = format.format(new Date(instant));
                    System.out.println(entry[0] + "\t" + provider + "\t" + pattern + "\t" + text + "\t" + instant);
                }
            }
        }
    }
}
