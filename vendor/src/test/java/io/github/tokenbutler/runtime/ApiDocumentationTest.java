package io.github.tokenbutler.runtime;

import com.sun.source.doctree.DocCommentTree;
import com.sun.source.tree.ClassTree;
import com.sun.source.tree.CompilationUnitTree;
import com.sun.source.util.DocSourcePositions;
import com.sun.source.util.DocTrees;
import com.sun.source.util.JavacTask;
import com.sun.source.util.TreePath;
import com.sun.source.util.TreePathScanner;
import org.junit.jupiter.api.Test;

import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import java.io.IOException;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The Java API's documentation is complete and well-formed: javac's doclint, every check on (a comment on every
 * public member, every parameter, return value and thrown exception named, valid HTML, links that resolve), on
 * the user-facing types only. The javadoc jar's build checks links in the whole file but not the internal
 * comments' HTML (they write {@code i < n} as plain text), so these types are held to the full set here.
 */
class ApiDocumentationTest {
    /** The types a user of the API imports; with the class comment of Llama3 itself. */
    static final Set<String> API = Set.of("Generator", "GenerationParams", "ChatMessage", "Completion", "LoadOptions", "UserError", "ChatTemplate");

    record Range(long start, long end) {
        boolean contains(long p) { return p >= start && p < end; }
    }

    @Test
    void theApiTypesPassDoclintWithEveryCheck() throws IOException {
        Path source = SharedData.projectRoot().resolve("vendor/Llama3.java");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, null, null)) {
            StringWriter out = new StringWriter();
            JavacTask task = (JavacTask) javac.getTask(out, files, diagnostics,
                    List.of("--release", "25", "--add-modules", "jdk.incubator.vector", "-proc:none", "-Xlint:-incubating",
                            "-Xdoclint:all/protected", "-Xmaxwarns", "100000", "-Xmaxerrs", "100000"),
                    null, files.getJavaFileObjects(source));
            Iterable<? extends CompilationUnitTree> units = task.parse();
            task.analyze();
            CompilationUnitTree unit = units.iterator().next();
            List<Range> ranges = apiRanges(DocTrees.instance(task), unit);
            assertEquals(API.size() + 1, ranges.size(), "every API type (and Llama3's class comment) was found");

            List<String> problems = new ArrayList<>();
            for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
                // doclint reports through the messager; any other error is the compiler's own.
                if (d.getKind() == Diagnostic.Kind.ERROR && !d.getCode().endsWith(".proc.messager")) fail("the runtime does not compile: " + d);
                if (ranges.stream().anyMatch(r -> r.contains(d.getPosition()))) {
                    problems.add("Llama3.java:" + d.getLineNumber() + ": " + d.getMessage(null));
                }
            }
            assertTrue(problems.isEmpty(), problems.size() + " doclint problems in the API's documentation:\n" + String.join("\n", problems));
        }
    }

    /** Where each API type sits in the file, its doc comment included; and Llama3's own doc comment. */
    private static List<Range> apiRanges(DocTrees trees, CompilationUnitTree unit) {
        DocSourcePositions positions = trees.getSourcePositions();
        List<Range> ranges = new ArrayList<>();
        new TreePathScanner<Void, Void>() {
            @Override public Void visitClass(ClassTree tree, Void unused) {
                String name = tree.getSimpleName().toString();
                boolean api = API.contains(name) && getCurrentPath().getParentPath().getLeaf() instanceof ClassTree outer
                        && outer.getSimpleName().contentEquals("Llama3");
                boolean top = name.equals("Llama3");
                if (api || top) {
                    TreePath path = getCurrentPath();
                    DocCommentTree doc = trees.getDocCommentTree(path);
                    assertNotNull(doc, name + " has a doc comment");
                    long start = positions.getStartPosition(unit, doc, doc);
                    long end = top ? positions.getStartPosition(unit, tree) : positions.getEndPosition(unit, tree);
                    ranges.add(new Range(start, end));
                }
                return super.visitClass(tree, unused);
            }
        }.scan(unit, null);
        return ranges;
    }
}
