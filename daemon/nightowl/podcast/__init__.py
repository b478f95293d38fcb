"""The podcast pipeline's parts: separation, denoising, voice activity, diarization,
transcription, speaker attribution, subtitle and transcript formats, loudness."""
