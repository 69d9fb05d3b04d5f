package io.vq4j.tokenizer;

import io.vq4j.core.InputException;
import io.vq4j.testing.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenizersTest {
    @TempDir
    Path tmp;

    @Test
    void llama2cCheckpointFindsTheSingleTokBinBesideIt() {
        Tokenizer t = Tokenizers.forModel(SharedData.stories260K(), null);
        assertInstanceOf(Llama2cTokenizer.class, t);
        assertEquals(512, t.vocabSize());
    }

    @Test
    void tokenizerBinBesideACheckpointWinsOverTokStarBin() throws IOException {
        Path model = Files.writeString(tmp.resolve("model.bin"), "x");
        Files.copy(SharedData.tok512(), tmp.resolve("tok512.bin"));
        Files.copy(SharedData.file("llama2-tokenizer/tokenizer.bin"), tmp.resolve("tokenizer.bin"));
        assertEquals(32000, Tokenizers.forModel(model, null).vocabSize());
    }

    @Test
    void modelDirectoryPrefersTokenizerJsonThenTokenizerBin() throws IOException {
        Files.copy(SharedData.tok512(), tmp.resolve("tokenizer.bin"));
        assertInstanceOf(Llama2cTokenizer.class, Tokenizers.forModel(tmp, null));
        TokenizerJson.write(Llama2cTokenizer.read(SharedData.tok512()), tmp);
        assertInstanceOf(HfTokenizer.class, Tokenizers.forModel(tmp, null));
    }

    @Test
    void explicitTokenizerIsOpenedByExtensionOrContent() throws IOException {
        Path json = TokenizerJson.write(Llama2cTokenizer.read(SharedData.tok512()), tmp);
        Path renamed = Files.copy(json, tmp.resolve("vocab.tok"));
        Path model = SharedData.stories260K();
        assertInstanceOf(HfTokenizer.class, Tokenizers.forModel(model, json));
        assertInstanceOf(HfTokenizer.class, Tokenizers.forModel(model, renamed));
        assertInstanceOf(Llama2cTokenizer.class, Tokenizers.forModel(tmp, SharedData.tok512()));
        Path missing = tmp.resolve("nope.json");
        assertTrue(assertThrows(InputException.class, () -> Tokenizers.forModel(model, missing))
                .getMessage().startsWith(missing + ": "));
    }

    @Test
    void noTokenizerBesideTheModelAsksForTokenizerOption() throws IOException {
        Path model = Files.writeString(tmp.resolve("model.bin"), "x");
        InputException e = assertThrows(InputException.class, () -> Tokenizers.forModel(model, null));
        assertEquals(model + ": no tokenizer found beside it; pass --tokenizer FILE", e.getMessage());
        Path dir = Files.createDirectory(tmp.resolve("empty"));
        assertEquals(dir + ": no tokenizer found beside it; pass --tokenizer FILE",
                assertThrows(InputException.class, () -> Tokenizers.forModel(dir, null)).getMessage());
    }

    @Test
    void twoTokStarBinsBesideTheModelAreAmbiguous() throws IOException {
        Path model = Files.writeString(tmp.resolve("model.bin"), "x");
        Files.copy(SharedData.tok512(), tmp.resolve("tok512.bin"));
        Files.copy(SharedData.tok512(), tmp.resolve("tok1k.bin"));
        InputException e = assertThrows(InputException.class, () -> Tokenizers.forModel(model, null));
        assertTrue(e.getMessage().startsWith(model + ": several tokenizers"), e.getMessage());
    }
}
