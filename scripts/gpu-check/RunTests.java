import org.junit.platform.engine.discovery.ClassNameFilter;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Set;

/**
 * Runs the JUnit tests of a test-classes folder whose class names match a pattern, without Maven: for a machine
 * that has a GPU and a JDK carried to it but no build tools. Prints one line per test and a summary; exits 1 if
 * any test failed or none ran.
 * Usage: java -cp CLASSPATH RunTests TEST_CLASSES_DIR CLASS_NAME_REGEX
 */
public final class RunTests {
    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: RunTests TEST_CLASSES_DIR CLASS_NAME_REGEX (e.g. plugin-test-classes '.*OpenCl.*Test')");
            System.exit(2);
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(DiscoverySelectors.selectClasspathRoots(Set.of(Path.of(args[0]))))
                .filters(ClassNameFilter.includeClassNamePatterns(args[1]))
                .build();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestExecutionListener lines = new TestExecutionListener() {
            @Override public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                // containers only when they did not succeed (a class whose assumptions failed is aborted whole)
                if (!id.isTest() && result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) return;
                String why = result.getThrowable().map(t -> ": " + t).orElse("");
                System.out.println(result.getStatus() + " " + id.getUniqueId().replaceAll(".*\\[class:([^\\]]*)\\].*\\[(method|test-template):([^\\]]*)\\].*", "$1.$3") + " " + id.getDisplayName() + why);
            }
            @Override public void executionSkipped(TestIdentifier id, String reason) {
                System.out.println("SKIPPED " + id.getDisplayName() + ": " + reason);
            }
        };
        Launcher launcher = LauncherFactory.create();
        launcher.execute(request, summary, lines);
        TestExecutionSummary s = summary.getSummary();
        s.printTo(new PrintWriter(System.out, true));
        s.printFailuresTo(new PrintWriter(System.out, true), 20);
        System.exit(s.getTotalFailureCount() > 0 || s.getTestsSucceededCount() == 0 ? 1 : 0);
    }
}
