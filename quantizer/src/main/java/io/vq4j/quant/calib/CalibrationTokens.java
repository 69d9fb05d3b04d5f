package io.vq4j.quant.calib;

import io.vq4j.core.InputException;
import io.vq4j.tokenizer.Tokenizer;

import java.io.IOException;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** The calibration sequences of a causal model, cut from a text file. */
public final class CalibrationTokens {
    private CalibrationTokens() {
    }

    /**
     * Tokens for calibration: the text is read in pieces of about 64 KiB cut at line ends,
     * each tokenized (BOS before the first), until n × L tokens are there; sequence s is
     * tokens [s·L, (s+1)·L).
     */
    public static int[] read(Path calib, Tokenizer tok, int n, int len) {
        long need = (long) n * len;
        if (need > Integer.MAX_VALUE - 8) {
            throw new InputException("--calib-samples x --calib-len: " + need + " tokens is too many");
        }
        String text;
        try {
            text = Files.readString(calib, StandardCharsets.UTF_8);
        } catch (MalformedInputException e) {
            throw InputException.at(calib, "is not valid UTF-8");
        } catch (IOException e) {
            throw InputException.at(calib, "cannot read: " + e.getMessage());
        }
        int[] out = new int[(int) need];
        int have = 0;
        int pos = 0;
        boolean first = true;
        while (have < need && pos < text.length()) {
            int end = Math.min(text.length(), pos + 65536);
            int nl = text.indexOf('\n', end);
            end = nl < 0 ? text.length() : nl + 1;
            int[] ids = tok.encode(text.substring(pos, end), first);
            first = false;
            int take = (int) Math.min(ids.length, need - have);
            System.arraycopy(ids, 0, out, have, take);
            have += take;
            pos = end;
        }
        if (have < need) {
            throw InputException.at(calib, "gives " + have + " tokens; --calib-samples " + n + " x --calib-len " + len
                    + " needs " + need);
        }
        return out;
    }
}
