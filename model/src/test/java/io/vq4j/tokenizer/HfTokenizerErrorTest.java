package io.vq4j.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vq4j.testing.InputErrors;
import io.vq4j.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token ids in a tokenizer.json are bounded by the tokens it declares (an audit found 2^28 hanging at 6 GB). */
class HfTokenizerErrorTest {
    @TempDir
    Path tmp;

    private Path broken(String name, Consumer<ObjectNode> edit) throws IOException {
        Path dir = Files.createDirectory(tmp.resolve(name));
        Path file = TokenizerJson.write(Llama2cTokenizer.read(SharedData.tok512()), dir);
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = (ObjectNode) m.readTree(file.toFile());
        edit.accept(root);
        m.writeValue(file.toFile(), root);
        return file;
    }

    @Test
    void aVocabularyIdBeyondTheDeclaredTokensIsAnInputError() throws IOException {
        for (long id : new long[]{1L << 28, Integer.MAX_VALUE - 1}) {
            Path f = broken("vocab" + id, r -> ((ObjectNode) r.get("model").get("vocab")).put("stray", id));
            InputErrors.fails(f, "but an id of " + id + ": ids must number the tokens", () -> HfTokenizer.read(f));
        }
    }

    @Test
    void anAddedTokenIdBeyondTheDeclaredTokensIsAnInputError() throws IOException {
        Path f = broken("added", r -> r.withArray("added_tokens").addObject().put("id", 1L << 28)
                .put("content", "<stray>").put("special", true));
        InputErrors.fails(f, "but an id of " + (1L << 28), () -> HfTokenizer.read(f));
        Path g = broken("negative", r -> r.withArray("added_tokens").addObject().put("id", -3)
                .put("content", "<neg>").put("special", true));
        InputErrors.fails(g, "added_tokens entry \"<neg>\" has id -3", () -> HfTokenizer.read(g));
        Path h = broken("long", r -> r.withArray("added_tokens").addObject().put("id", 1L << 40)
                .put("content", "<long>").put("special", true));
        InputErrors.fails(h, "added_tokens entry \"<long>\" has id " + (1L << 40), () -> HfTokenizer.read(h));
    }
}
