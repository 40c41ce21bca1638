import '@xyflow/react/dist/style.css';
import './index.css';
import './canvas.css';
import './cards.css';
import './graph.css';
import './experiment.css';
import './notes.css';
import './experiments.css';
