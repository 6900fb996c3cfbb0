using System.Buffers;
using System.Diagnostics;
using M2M.Btp;
using M2M.Core.Ilp;
using Xunit.Abstractions;

namespace M2M.Reliability.Tests;

/// <summary>
/// R11 (short form): a mutation fuzzer over the committed corpus (tests/fuzz/corpus, seeded from
/// the ilp-packet and btp-packet vectors by tests/fuzz/make-corpus.py) for the ILP, BTP and ILDCP
/// decoders. Properties: no input throws; Done ⇔ a packet and no error; a decoded packet
/// re-encodes to bytes that decode to the same packet (decode∘encode = id on valid input);
/// no input takes over 100 ms. FUZZ_SECONDS (per target, CI 5) and FUZZ_SEED control a longer run.
/// </summary>
[Collection(SerialCollection.Name)]
[Trait("Tier", "unit")]
public class CodecFuzzTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Hang = TimeSpan.FromMilliseconds(100);

    private static double Seconds => double.TryParse(Environment.GetEnvironmentVariable("FUZZ_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double s) ? s : 5;

    private static int Seed => int.TryParse(Environment.GetEnvironmentVariable("FUZZ_SEED"), out int s) ? s : Environment.TickCount;

    public static IEnumerable<object[]> Targets() => [["ilp"], ["btp"], ["ildcp"]];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Whole_corpus_replays_without_an_unexpected_exception(string target)
    {
        var corpus = Corpus(target);
        Assert.NotEmpty(corpus);
        int valid = 0;
        foreach (var (name, bytes) in corpus)
        {
            string? problem = Check(target, bytes, out bool done);
            Assert.True(problem is null, $"{target}/{name}: {problem}");
            if (done) valid++;
        }
        output.WriteLine($"{target}: {corpus.Count} corpus inputs replayed, {valid} decode as valid");
        if (target == "ilp") Assert.True(valid > 50 && valid < corpus.Count, "the corpus should hold both valid and invalid packets");
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Mutations_of_the_corpus_never_throw_hang_or_break_the_round_trip(string target)
    {
        int seed = Seed;
        var random = new Random(seed);
        var corpus = Corpus(target).Select(c => c.Bytes).ToList();
        var watch = Stopwatch.StartNew();
        long execs = 0, valid = 0;
        var limit = TimeSpan.FromSeconds(Seconds);
        while (watch.Elapsed < limit)
        {
            byte[] input = Mutate(random, corpus);
            string? problem = Check(target, input, out bool done);
            execs++;
            if (done) valid++;
            if (problem is not null)
            {
                string file = Path.Combine(Path.GetTempPath(), $"finding-{target}-{seed}-{execs}.bin");
                File.WriteAllBytes(file, input);
                Assert.Fail($"{target}: {problem} (seed {seed}, exec {execs}); input saved to {file}: {Convert.ToHexString(input.AsSpan(0, Math.Min(input.Length, 256)))}");
            }
            // Keep valid mutants as new seeds: a poor man's coverage feedback.
            if (done && corpus.Count < 5000 && random.Next(8) == 0) corpus.Add(input);
        }
        output.WriteLine($"{target}: {execs} execs in {watch.Elapsed.TotalSeconds:F1} s ({execs / watch.Elapsed.TotalSeconds:F0}/s), {valid} valid, 0 failures (seed {seed})");
        Assert.True(execs > 1000, $"only {execs} execs");
    }

    /// <summary>Runs the target's decoder; returns null when every property holds, else what broke.</summary>
    private static string? Check(string target, byte[] input, out bool done)
    {
        done = false;
        var watch = Stopwatch.StartNew();
        try
        {
            string? problem = target switch
            {
                "ilp" => CheckIlp(input, out done),
                "btp" => CheckBtp(input, out done),
                _ => CheckIldcp(input, out done),
            };
            // A slow input is timed again: a GC pause or a preempted thread is not a hang; slow three times more is.
            if (problem is null && watch.Elapsed > Hang && SlowestOfRetries(target, input) is var retry && retry > Hang)
                problem = $"took {watch.Elapsed.TotalMilliseconds:F0} ms, and at least {retry.TotalMilliseconds:F0} ms on each of 3 retries";
            return problem;
        }
        catch (Exception e)
        {
            return $"threw {e.GetType().Name}: {e.Message}";
        }
    }

    private static TimeSpan SlowestOfRetries(string target, byte[] input)
    {
        var fastest = TimeSpan.MaxValue;
        for (int i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            _ = target switch { "ilp" => CheckIlp(input, out _), "btp" => CheckBtp(input, out _), _ => CheckIldcp(input, out _) };
            if (watch.Elapsed < fastest) fastest = watch.Elapsed;
        }
        return fastest;
    }

    private static string? CheckIlp(byte[] input, out bool done)
    {
        var status = IlpCodec.TryDecode(input, out var packet, out string? error);
        done = status == OperationStatus.Done;
        if (done != (packet is not null) || done == (error is not null)) return $"inconsistent result {status}, packet {packet is not null}, error '{error}'";
        if (!done) return null;
        byte[] again = IlpEncoder.ToArray(packet!);
        if (IlpCodec.TryDecode(again, out var second, out error) != OperationStatus.Done) return $"re-encoded packet does not decode: {error}";
        return again.AsSpan().SequenceEqual(IlpEncoder.ToArray(second!)) ? null : "decode(encode(p)) != p";
    }

    private static string? CheckBtp(byte[] input, out bool done)
    {
        var status = BtpCodec.TryDecode(input, out var packet, out string? error);
        done = status == OperationStatus.Done;
        if (done != (packet is not null)) return $"inconsistent result {status}, packet {packet is not null}, error '{error}'";
        if (IlpFrameReadDisagrees(input, packet) is { } disagreement) return disagreement;
        if (!done) return null;
        byte[] again = BtpCodec.Encode(packet!);
        if (BtpCodec.TryDecode(again, out var second, out error) != OperationStatus.Done) return $"re-encoded frame does not decode: {error}";
        return again.AsSpan().SequenceEqual(BtpCodec.Encode(second!)) ? null : "decode(encode(p)) != p";
    }

    /// <summary>The session's in-place read of ILP frames (issue 18) must accept exactly the frames the full decode reads as one "ilp" entry.</summary>
    private static string? IlpFrameReadDisagrees(byte[] input, BtpPacket? packet)
    {
        bool ilpFrame = packet is { Type: BtpPacketType.Message or BtpPacketType.Response, ProtocolData: [{ ProtocolName: BtpProtocolNames.Ilp }] };
        bool read = BtpCodec.TryReadIlpFrame(input, out var type, out uint requestId, out var ilp);
        if (read != ilpFrame) return $"TryReadIlpFrame {read}, full decode says ilp frame {ilpFrame}";
        if (!read) return null;
        return type == packet!.Type && requestId == packet.RequestId && ilp.Span.SequenceEqual(packet.ProtocolData[0].Data.Span)
            ? null : "TryReadIlpFrame read other values than the full decode";
    }

    private static string? CheckIldcp(byte[] input, out bool done)
    {
        done = Ildcp.TryParseResponse(input, out var response);
        if (done != (response is not null)) return "inconsistent result";
        if (!done) return null;
        var fulfill = Ildcp.CreateFulfill(response!);
        if (!Ildcp.TryParseResponse(fulfill.Data.Span, out var again)) return "re-encoded response does not parse";
        return again == response ? null : $"round trip changed {response} into {again}";
    }

    private static readonly byte[] Interesting = [0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0x88, 0xFE, 0xFF, 0x0C, 0x0D, 0x0E, 0x06, 0x01, 0x02];

    /// <summary>One to four stacked mutations of a corpus input (AFL's havoc stage, in small).</summary>
    private static byte[] Mutate(Random r, List<byte[]> corpus)
    {
        var data = new List<byte>(corpus[r.Next(corpus.Count)]);
        int rounds = 1 + r.Next(4);
        for (int i = 0; i < rounds; i++)
        {
            int at = data.Count == 0 ? 0 : r.Next(data.Count);
            switch (r.Next(8))
            {
                case 0 when data.Count > 0: data[at] ^= (byte)(1 << r.Next(8)); break;
                case 1 when data.Count > 0: data[at] = Interesting[r.Next(Interesting.Length)]; break;
                case 2 when data.Count > 0: data.RemoveRange(at, Math.Min(data.Count - at, 1 + r.Next(16))); break;
                case 3: data.InsertRange(at, Enumerable.Range(0, 1 + r.Next(8)).Select(_ => (byte)r.Next(256))); break;
                case 4 when data.Count > 0: data.RemoveRange(at, data.Count - at); break; // truncate
                case 5: // splice: the head of this one, the tail of another
                    var other = corpus[r.Next(corpus.Count)];
                    int cut = other.Length == 0 ? 0 : r.Next(other.Length);
                    data.RemoveRange(at, data.Count - at);
                    data.AddRange(other.AsSpan(cut).ToArray());
                    break;
                case 6 when data.Count > 0: data[at] = (byte)(data[at] + r.Next(-3, 4)); break; // nudge a length
                default: data.Add((byte)r.Next(256)); break;
            }
        }
        return [.. data];
    }

    private static List<(string Name, byte[] Bytes)> Corpus(string target)
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "fuzz-corpus", target);
        return Directory.GetFiles(dir, "*.bin").Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
    }
}
