namespace M2M.Reliability.Tests;

/// <summary>A long-form test (RELIABILITY.md "long" forms): reported as skipped unless M2M_LONG=1, never silently passed.</summary>
public sealed class LongFactAttribute : FactAttribute
{
    public LongFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("M2M_LONG") != "1") Skip = "long form: run with M2M_LONG=1";
    }
}
