import Domain
import JSON

#if canImport(Glibc)
import Glibc
#endif

extension MetricPoint {
    /// The point as clients see it, with `perplexity` = exp(eval_loss) where eval_loss is finite and below 100
    /// (the trainer's own figure when it sent one).
    var json: JSONValue {
        let perplexity = self.perplexity ?? evalLoss.flatMap { $0.isFinite && $0 < 100 ? exp($0) : nil }
        return .object([
            "step": .int(step), "epoch": .double(epoch), "train_loss": .double(trainLoss), "eval_loss": .double(evalLoss),
            "learning_rate": .double(learningRate), "grad_norm": .double(gradNorm), "gpu_memory_allocated_gb": .double(gpuMemoryAllocatedGB),
            "gpu_utilization_percent": .double(gpuUtilizationPercent), "samples_per_second": .double(samplesPerSecond),
            "tokens_per_second": .double(tokensPerSecond), "timestamp": .string(timestamp?.iso8601), "perplexity": .double(perplexity),
            "gpu_memory_reserved_gb": .double(gpuMemoryReservedGB), "train_perplexity": .double(trainPerplexity),
            "eval_perplexity": .double(evalPerplexity),
        ])
    }
}
